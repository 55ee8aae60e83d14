"""All HTTP to the provider goes through :class:`ProviderClient`.

One process-wide ``requests.Session`` (the django-anymail pattern: pooled,
cookie-less, made again after a fork), an ``HTTPAdapter`` with
``EULER_OAUTH_HTTP_POOL_SIZE`` connections per host and no retries, the
environment's proxies and CA bundle as ``requests`` reads them, a versioned
User-Agent. Each call ends within ``EULER_OAUTH_HTTP_TIMEOUT`` as a whole and
reads at most ``EULER_OAUTH_MAX_RESPONSE_BYTES`` (streamed: :mod:`.transport`);
transport failures become our own
:class:`~django_euler_oauth.errors.TransportError`. Error answers become the
exception for their OAuth code (flat ``{error, error_description}``, the live
envelope's ``error`` object, or an envelope ``code >= 400``).
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter

from . import __version__, transport
from .answers import BinaryAnswer, TokenSet, check_answer, parse_token_payload, unwrap
from .conf import app_settings
from .errors import (
    EulerOAuthError,
    MalformedResponse,
    ProviderConfigurationError,
    ResponseTooLarge,
    Stage,
    TransportError,
)

if TYPE_CHECKING:
    from .models import OAuthClient

USER_AGENT = f"django-euler-oauth/{__version__} python-requests/{requests.__version__}"

_session_lock = threading.Lock()
_session: requests.Session | None = None
_session_key: tuple[int, int] | None = None  # (pid, pool size) the session was made for


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The provider has no business setting cookies on a shared server-side session."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class _ProviderAdapter(HTTPAdapter):
    """``requests``' adapter whose pooled connections are watched while a call is made:
    the wait for the status line and headers, not only the body, ends at the call's
    deadline (see :class:`.transport.RequestPhase`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = transport.DEADLINE_POOLS


def get_session() -> requests.Session:
    """The process-wide session: made on first use, again in a forked child.

    One connection pool per provider host of ``EULER_OAUTH_HTTP_POOL_SIZE`` kept-alive
    connections; no retries (a refresh token sent once may already be spent); proxies,
    ``NO_PROXY`` and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment as
    ``requests`` reads them (:func:`environment_settings`); cookies refused; no
    ``.netrc`` credentials (they are not the provider's).
    """
    global _session, _session_key
    key = (os.getpid(), app_settings.HTTP_POOL_SIZE)
    session = _session
    if session is None or _session_key != key:
        with _session_lock:
            session = _session
            if session is None or _session_key != key:
                session = requests.Session()
                session.trust_env = False  # environment_settings() reads it, per host
                session.cookies.set_policy(_NoCookies())
                adapter = _ProviderAdapter(pool_connections=8, pool_maxsize=key[1],
                                           max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers["User-Agent"] = USER_AGENT
                session.headers["Accept"] = "application/json"
                _session, _session_key = session, key
    return session


#: What ``requests`` reads from the environment for an http(s) call's proxies and CA
#: bundle (``urllib.request.getproxies`` on Linux, ``merge_environment_settings``).
_ENVIRONMENT = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_environment_settings: dict[tuple[str, str, tuple[str | None, ...]], dict[str, Any]] = {}


def environment_settings(url: str) -> dict[str, Any]:
    """``proxies``, ``verify`` and ``cert`` for ``url`` from the environment.

    Worked out by ``requests`` itself (``Session.merge_environment_settings``) once per
    host and value of those variables: ``requests`` walks the whole environment on every
    call to find them, which cost a tenth of a refresh's CPU.
    """
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, tuple(os.environ.get(name) for name in _ENVIRONMENT))
    kept = _environment_settings.get(key)
    if kept is not None:
        return kept
    with requests.Session() as reader:  # trust_env, as requests does by default
        found = dict(reader.merge_environment_settings(url, {}, None, None, None))
    if len(_environment_settings) >= 64:  # hosts x environments: bounded
        _environment_settings.clear()
    _environment_settings[key] = found
    return found


class ProviderClient:
    """Talks to Euler Stream (or the sandbox) on behalf of one :class:`OAuthClient`."""

    def __init__(self, oauth_client: OAuthClient, session: requests.Session | None = None):
        self.oauth_client = oauth_client
        self.session = session or get_session()

    # -- helpers ---------------------------------------------------------------

    @property
    def timeout(self) -> tuple[float, float]:
        """``requests``' (connect, read) timeout: ``EULER_OAUTH_HTTP_TIMEOUT`` each.

        :meth:`send` also ends the call as a whole at that deadline.
        """
        value = app_settings.HTTP_TIMEOUT
        return (value, value)

    def _secrets(self, *extra: str | None) -> list[str | None]:
        return [self.oauth_client.client_secret, *extra]

    @sensitive_variables()
    def send(self, method: str, url: str, *, stage: str, binary: bool = False,
             **kwargs: Any) -> requests.Response:
        """One request through the session; the response with its whole body read.

        ``kwargs`` are ``requests``' (``headers``, ``params``, ``data``, ``json``).
        The call as a whole (connect, wait, body) ends within ``EULER_OAUTH_HTTP_TIMEOUT``;
        an answer above ``EULER_OAUTH_MAX_RESPONSE_BYTES`` (``binary``: a non-JSON
        answer may reach ``EULER_OAUTH_MAX_BINARY_RESPONSE_BYTES``) raises
        :class:`ResponseTooLarge` unread, a body shorter than its ``Content-Length``
        a :class:`TransportError`. Redirects are not followed. The response keeps
        neither the request body nor credential headers, and no error is chained to
        a ``requests`` exception (whose frames hold the body). Error answers are
        returned, not raised: :func:`check_answer` reads them.
        """
        timeout = self.timeout
        budget = timeout[1]
        deadline = time.monotonic() + budget
        headers = {"Accept-Encoding": "identity",  # sizes are then what is sent
                   **(kwargs.pop("headers", None) or {})}
        failure = kind = detail = ""
        response: requests.Response | None = None
        phase = transport.RequestPhase(deadline)
        try:
            with phase:
                environment = environment_settings(url)
                response = self.session.request(
                    method, url, headers=headers, timeout=timeout,
                    allow_redirects=False, stream=True, proxies=environment["proxies"],
                    verify=environment["verify"], cert=environment["cert"], **kwargs)
        except requests.Timeout:
            failure = "timed out"
        except requests.RequestException as err:
            # The exception text can echo the URL or body: name only its type.
            failure = "timed out" if phase.fired else f"failed: {type(err).__name__}"
        if failure:  # raised outside the except block: no context holding the body
            raise TransportError(f"{method} {_safe_url(url)} {failure}.", stage=stage)
        assert response is not None
        transport.forget_request(response)
        limit = app_settings.MAX_RESPONSE_BYTES
        if binary and "json" not in response.headers.get("Content-Type", "").lower():
            limit = app_settings.MAX_BINARY_RESPONSE_BYTES
        try:
            transport.read_body(response, deadline=deadline, limit=limit)
        except transport.BodyError as err:
            kind, detail = err.kind, str(err)
        if not kind:
            return response
        where = f"{method} {_safe_url(url)}"
        if kind == "too_large":
            raise ResponseTooLarge(f"{where} answer refused: {detail}.",
                                   status=response.status_code, stage=stage)
        if kind == "timeout":
            raise TransportError(f"{where} timed out ({budget:g} s for the whole answer).",
                                 stage=stage)
        raise TransportError(f"{where} answer unusable: {detail}.", stage=stage)

    @sensitive_variables()
    def _read(self, response: requests.Response, *, stage: str,
              secrets: list[str | None], empty_ok: bool = False) -> Any:
        """The decoded JSON of a successful answer; the right exception otherwise.

        ``empty_ok``: a 2xx answer with an empty body is a success (``None``).
        """
        try:
            body = response.json()
        except ValueError:
            body = None
        check_answer(response.status_code, body, response.headers, stage=stage,
                     secrets=secrets, response=response)
        if body is None and empty_ok and not response.content.strip():
            return None
        if body is None:
            ctype = response.headers.get("Content-Type", "unknown type")
            raise MalformedResponse(
                f"HTTP {response.status_code} answer is {ctype.split(';')[0]}, not JSON.",
                status=response.status_code, stage=stage, response=response,
            )
        return body

    @sensitive_variables()
    def _post_token_endpoint(self, url: str, fields: dict[str, str], *, stage: str,
                             secrets: list[str | None], empty_ok: bool = False) -> Any:
        fields = {"client_id": self.oauth_client.client_id,
                  "client_secret": self.oauth_client.client_secret, **fields}
        if self.oauth_client.request_format == "json":
            kwargs: dict[str, Any] = {"json": fields}
        else:
            kwargs = {"data": fields}
        response = self.send("POST", url, stage=stage, **kwargs)
        return self._read(response, stage=stage, secrets=secrets, empty_ok=empty_ok)

    # -- the OAuth endpoints ---------------------------------------------------

    def authorization_url(self, *, redirect_uri: str, scope: str, state: str,
                          code_challenge: str | None = None) -> str:
        """The provider's authorize URL with exactly the documented parameters."""
        params = {
            "client_id": self.oauth_client.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
        if code_challenge:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        parts = urlsplit(self.oauth_client.authorize_url)
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    @sensitive_variables()
    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None,
                      requested_scope: str = "") -> TokenSet:
        """Trade an authorization code for tokens."""
        fields = {"grant_type": "authorization_code", "code": code,
                  "redirect_uri": redirect_uri}
        if code_verifier:
            fields["code_verifier"] = code_verifier
        secrets = self._secrets(code, code_verifier)
        body = self._post_token_endpoint(self.oauth_client.token_url, fields,
                                         stage=Stage.TOKEN, secrets=secrets)
        return parse_token_payload(body, requested_scope=requested_scope)

    @sensitive_variables()
    def refresh(self, refresh_token: str, *, scope: str = "") -> TokenSet:
        """New tokens for a refresh token (which the provider then retires)."""
        body = self._post_token_endpoint(
            self.oauth_client.token_url,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            stage=Stage.TOKEN, secrets=self._secrets(refresh_token),
        )
        return parse_token_payload(body, requested_scope=scope)

    @sensitive_variables()
    def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """Revoke a token (RFC 7009: success for any token, known or not)."""
        fields = {"token": token}
        if token_type_hint:
            fields["token_type_hint"] = token_type_hint
        # RFC 7009 §2.2: the body of a 200 is ignored, and may well be empty.
        self._post_token_endpoint(self.oauth_client.revoke_url, fields, stage=Stage.TOKEN,
                                  secrets=self._secrets(token), empty_ok=True)

    @sensitive_variables()
    def userinfo(self, access_token: str) -> dict[str, Any]:
        """Who the token belongs to (``/tiktok/oauth/userinfo``): the ``user`` object."""
        body = self.api_call("GET", "/tiktok/oauth/userinfo", access_token)
        user = unwrap(body).get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise MalformedResponse("userinfo answer has no user object.", stage=Stage.API)
        return user

    @sensitive_variables()
    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection of a token."""
        url = self.oauth_client.url_for("/tiktok/oauth/introspect")
        body = self._post_token_endpoint(url, {"token": token}, stage=Stage.TOKEN,
                                         secrets=self._secrets(token))
        return unwrap(body) if isinstance(body, dict) else {}

    @sensitive_variables()
    def validate_refresh(self, refresh_token: str) -> dict[str, Any]:
        """Whether a refresh token is still good, without consuming it.

        ``POST /tiktok/oauth/validate-refresh``; the payload (flat or enveloped)
        with ``valid`` (bool) and, when the provider says, ``scopes``.
        """
        url = self.oauth_client.url_for("/tiktok/oauth/validate-refresh")
        response = self.send("POST", url, stage=Stage.TOKEN, headers=self.key_headers(),
                              json={"refresh_token": refresh_token,
                                    "client_id": self.oauth_client.client_id})
        body = self._read(response, stage=Stage.TOKEN,
                          secrets=self._secrets(refresh_token, self.api_key))
        payload = unwrap(body) if isinstance(body, dict) else None
        if payload is None or not isinstance(payload.get("valid"), bool):
            raise MalformedResponse("validate-refresh answer has no valid flag.",
                                    stage=Stage.TOKEN)
        return payload

    @sensitive_variables()
    def public_client(self) -> dict[str, Any] | None:
        """This client as Euler publishes it (``GET /tiktok/oauth/clients/{client_id}``).

        The ``client`` object (``name``, ``redirect_uris``, ``supported_scopes``,
        ...), or None when the provider answers 404 (it knows no such client).
        """
        url = self.oauth_client.url_for(
            "/tiktok/oauth/clients/" + quote(self.oauth_client.client_id, safe=""))
        response = self.send("GET", url, stage=Stage.API, headers=self.key_headers())
        try:
            body = self._read(response, stage=Stage.API,
                              secrets=self._secrets(self.api_key))
        except EulerOAuthError as err:
            if err.status == 404 or err.code == "invalid_client":
                return None
            raise
        info = unwrap(body).get("client") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise MalformedResponse("client info answer has no client object.",
                                    stage=Stage.API)
        return info

    # -- the API ---------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        """The account API key: the client's own, else ``EULER_OAUTH_API_KEY``."""
        return getattr(self.oauth_client, "api_key", "") or app_settings.API_KEY

    @sensitive_variables()
    def key_headers(self) -> dict[str, str]:
        """``X-Api-Key`` when an API key is configured, else nothing."""
        key = self.api_key
        return {"X-Api-Key": key} if key else {}

    @sensitive_variables()
    def auth_headers(self, access_token: str) -> dict[str, str]:
        """The headers carrying ``access_token`` (and the API key) the client's way."""
        if self.oauth_client.token_transport == "x-oauth-token":
            return {"x-oauth-token": access_token, **self.key_headers()}
        return {"Authorization": f"Bearer {access_token}", **self.key_headers()}

    def api_url(self, path: str) -> str:
        """``path`` on the client's API host; a full URL only on that host (scheme, host
        and port of ``api_base_url``), else ``ValueError``: the token and the API key go
        to Euler, never to a host a caller (or a value it forwards) names."""
        if not path.startswith(("http://", "https://")) and not path.startswith("//"):
            return self.oauth_client.url_for(path)
        wanted, given = urlsplit(self.oauth_client.api_base_url), urlsplit(path)
        if (given.scheme, given.netloc.lower()) != (wanted.scheme, wanted.netloc.lower()):
            raise ValueError(
                f"The Euler API is called only on the client's API host "
                f"({wanted.scheme}://{wanted.netloc}), not on {_safe_url(path)[:200]}.")
        return path

    @sensitive_variables()
    def api_call(self, method: str, path: str, access_token: str, *,
                 params: dict[str, Any] | None = None, json: Any = None,
                 binary: bool = False) -> Any:
        """One API call with the token sent the client's way; the decoded answer.

        ``binary``: the endpoint answers a non-JSON body on success (the connect
        endpoints' protobuf), returned as a :class:`BinaryAnswer`; a JSON answer
        is still read as usual, so error answers raise as everywhere else.
        """
        url = self.api_url(path)
        secrets = [access_token, self.api_key]
        headers = self.auth_headers(access_token)
        if binary:
            headers["Accept"] = "application/x-protobuf, application/octet-stream, */*"
            response = self.send(method.upper(), url, stage=Stage.API, binary=True,
                                  params=params, json=json, headers=headers)
            ctype = response.headers.get("Content-Type", "")
            if response.status_code < 300 and "json" not in ctype.lower():
                return BinaryAnswer(response.content, ctype.split(";")[0].strip(),
                                    dict(response.headers))
        else:
            response = self.send(method.upper(), url, stage=Stage.API,
                                  params=params, json=json, headers=headers)
        return self._read(response, stage=Stage.API, secrets=secrets)

    @sensitive_variables()
    def create_websocket_jwt(self, unique_id: str, *, expire_after: int = 60,
                             max_web_sockets: int = 1, name: str = "") -> str:
        """A short JWT for Euler's WebSocket service, good for ``unique_id``'s room only.

        ``POST {api_base_url}/accounts/{account_id}/jwt/create`` with the API key; the
        token a browser may hold instead of the key (``jwtKey``), which allows
        ``max_web_sockets`` sockets to ``unique_id`` for ``expire_after`` seconds.
        :class:`ProviderConfigurationError` before any request when the client has no
        Euler account id or no API key; the answer's own exception when Euler refuses.
        """
        account_id = (self.oauth_client.account_id or "").strip()
        if not account_id:
            raise ProviderConfigurationError(
                f"OAuth client {self.oauth_client.slug!r} has no Euler account ID: browser "
                "tokens for LIVE events cannot be minted.")
        key = self.api_key
        if not key:
            raise ProviderConfigurationError(
                f"OAuth client {self.oauth_client.slug!r} has no API key (nor "
                "EULER_OAUTH_API_KEY): browser tokens for LIVE events cannot be minted.")
        url = self.oauth_client.url_for(f"/accounts/{quote(account_id, safe='')}/jwt/create")
        body: dict[str, Any] = {
            "expire_after": int(expire_after),
            "websockets": {"allowed_creators": [unique_id],
                           "max_web_sockets": int(max_web_sockets)},
        }
        if name:
            body["name"] = name
        response = self.send("POST", url, stage=Stage.API, headers=self.key_headers(),
                              json=body)
        answer = self._read(response, stage=Stage.API, secrets=self._secrets(key))
        payload = unwrap(answer) if isinstance(answer, dict) else {}
        token = payload.get("token")
        if not isinstance(token, str) or not token.strip():
            raise MalformedResponse("jwt/create answer has no token.",
                                    status=response.status_code, stage=Stage.API)
        return token.strip()


def _safe_url(url: str) -> str:
    """``url`` without its query string (which may hold a code or an API key)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


__all__ = ["USER_AGENT", "BinaryAnswer", "EulerOAuthError", "ProviderClient", "get_session"]
