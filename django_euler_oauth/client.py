"""All HTTP to the provider goes through :class:`ProviderClient`.

One process-wide ``requests.Session`` (a pooled, cookie-less session, rebuilt
after a fork; a call it would only carry goes out through :mod:`.wire`: the same
bytes without ``requests``' per-call machinery), a timeout on every call from
``EULER_OAUTH_HTTP_TIMEOUT``, a versioned User-Agent, and transport failures re-raised as our own
:class:`~django_euler_oauth.errors.TransportError`. Error answers become the
exception for their OAuth code (flat ``{error, error_description}``, the live
envelope's ``error`` object, or an envelope ``code >= 400``).
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import logging
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import requests
from django.views.decorators.debug import sensitive_variables
from requests import models as _requests_models
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_encoding_from_headers

from . import __version__, transport, wire
from .conf import app_settings
from .errors import (
    EulerOAuthError,
    MalformedResponse,
    RateLimited,
    ResponseTooLarge,
    Stage,
    TransportError,
    error_for_code,
    parse_retry_after,
    redact,
)
from .tokens import TokenSet, error_fields, parse_token_payload, unwrap

if TYPE_CHECKING:
    from .models import OAuthClient

logger = logging.getLogger("django_euler_oauth.client")

USER_AGENT = f"django-euler-oauth/{__version__} python-requests/{requests.__version__}"

_session_lock = threading.Lock()
_session: requests.Session | None = None
_session_pid: int | None = None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The provider has no business setting cookies on a shared server-side session."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _environment_configures_http() -> bool:
    """True when a proxy variable is set (``HTTPS_PROXY``, ``all_proxy``, ...).

    Only then does the session read the environment on each call (requests'
    ``trust_env``, for the per-URL ``NO_PROXY`` rules). A CA bundle named by
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` is read once, when the session is made.
    """
    return any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
               for name, value in os.environ.items())


class _ProviderAdapter(HTTPAdapter):
    """``requests``' adapter with two per-call costs cut (the session's, for every URL).

    The connection pool for a URL and TLS settings is looked up once while it stays
    open (requests re-parses the URL, checks the CA bundle path on disk and builds a
    pool key on every call), and an answer's cookies are not copied into
    ``response.cookies`` (the provider has no business setting cookies).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[Any, ...], Any] = {}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Connections handed to a provider call are watched until its deadline, the
        # wait for the status line and headers included (see transport.RequestPhase).
        self.poolmanager.pool_classes_by_scheme = transport.DEADLINE_POOLS

    def get_connection_with_tls_context(self, request: Any, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        parent = super().get_connection_with_tls_context  # requests >= 2.32 calls this
        if proxies:
            return parent(request, verify, proxies=proxies, cert=cert)
        key = (request.url, verify, cert)
        pool = self._pools.get(key)
        if pool is None or getattr(pool, "pool", None) is None:  # closed (evicted, close())
            pool = parent(request, verify, proxies=proxies, cert=cert)
            if len(self._pools) >= _PREPARED_URLS_MAX:
                self._pools.clear()
            self._pools[key] = pool
        return pool

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        response.headers = CaseInsensitiveDict(getattr(resp, "headers", {}))
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        self._pools.clear()
        super().close()


def get_session() -> requests.Session:
    """The process-wide session (a new one in a forked child)."""
    global _session, _session_pid
    pid = os.getpid()
    if _session is None or _session_pid != pid:
        with _session_lock:
            if _session is None or _session_pid != pid:
                session = requests.Session()
                session.cookies.set_policy(_NoCookies())
                adapter = _ProviderAdapter(pool_connections=8, pool_maxsize=64, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers["User-Agent"] = USER_AGENT
                session.headers["Accept"] = "application/json"
                # Reading proxies and CA bundles from the environment costs requests
                # ~0.6 ms of CPU per call (it walks os.environ each time): only when
                # the environment configures a proxy; a CA bundle is read here, once.
                session.trust_env = _environment_configures_http()
                session.verify = (os.environ.get("REQUESTS_CA_BUNDLE")
                                  or os.environ.get("CURL_CA_BUNDLE") or True)
                _session, _session_pid = session, pid
    return _session


#: The JSON module requests encodes bodies with (simplejson when installed).
_json: Any = getattr(_requests_models, "complexjson", None) or __import__("json")

#: URL -> the URL as requests prepares it (IDNA, quoting), or "" when the URL carries
#: credentials (``user:pass@``, for requests' own auth handling). Bounded.
_prepared_urls: dict[str, str] = {}
_PREPARED_URLS_MAX = 256


def _prepared_url(url: str) -> str:
    prepared = _prepared_urls.get(url)
    if prepared is None:
        request = PreparedRequest()
        request.prepare_url(url, None)  # raises requests' own errors for a bad URL
        prepared = str(request.url)
        if "@" in urlsplit(prepared).netloc:
            prepared = ""
        if len(_prepared_urls) >= _PREPARED_URLS_MAX:
            _prepared_urls.clear()
        _prepared_urls[url] = prepared
    return prepared


def _stock(obj: Any, module: str) -> bool:
    """True when ``obj`` (a method, a class) is defined in ``module``: not patched in."""
    return getattr(obj, "__module__", None) == module


def _plain_session(session: requests.Session) -> bool:
    """True when ``session.request`` would add nothing to a request but its headers.

    No environment (proxies, netrc), no session proxies, params, auth, hooks or
    cookies: then :func:`_direct_request` builds what ``requests`` would send.
    """
    return (not session.trust_env and not session.proxies and not session.params
            and session.auth is None and not any(session.hooks.values())
            and not len(session.cookies)
            # requests-mock patches Session.send: then every call must go through it.
            and _stock(type(session).send, "requests.sessions"))


def _direct_request(session: requests.Session, method: str, url: str,
                    headers: dict[str, Any], kwargs: dict[str, Any]) -> PreparedRequest | None:
    """The request ``session.request`` would prepare, built without its per-call work.

    ``requests`` merges settings, hooks, cookies and the environment on every call
    and checks its arguments against typing protocols (~40 % of a refresh's HTTP CPU).
    Only the common shapes are built here: a form of text fields, a JSON body, or
    none, with no query parameters; anything else returns None (``requests`` does it).
    """
    data, body_json = kwargs.get("data"), kwargs.get("json")
    if any(value is not None for name, value in kwargs.items() if name not in ("data", "json")):
        return None  # params, files, auth, ...
    prepared_url = _prepared_url(url)
    if not prepared_url:
        return None
    merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(session.headers)
    for name, value in headers.items():
        if value is None:
            merged.pop(name, None)
        else:
            check_header_validity((name, value))
            merged[name] = value
    body: bytes | None = None
    content_type = None
    if data:
        if not isinstance(data, dict) or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in data.items()):
            return None
        body = _form(data).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    elif body_json is not None:
        try:
            text = _json.dumps(body_json, allow_nan=False)
        except ValueError:
            return None  # requests raises its InvalidJSONError
        body = text if isinstance(text, bytes) else text.encode("utf-8")
        content_type = "application/json"
    if content_type and "content-type" not in merged:
        merged["Content-Type"] = content_type
    if body is not None:
        merged["Content-Length"] = str(len(body))
    elif method not in ("GET", "HEAD") and "content-length" not in merged:
        merged["Content-Length"] = "0"
    request = PreparedRequest()
    request.method = method
    request.url = prepared_url
    request.headers = merged
    request.body = body
    return request


_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*\Z")  # what quote_plus leaves as it is


def _form(fields: dict[str, str]) -> str:
    """``urlencode(fields)``, without quoting what needs none (tokens, grant types)."""
    return "&".join(
        f"{key if _UNQUOTED.match(key) else quote_plus(key)}="
        f"{value if _UNQUOTED.match(value) else quote_plus(value)}"
        for key, value in fields.items())


def _wire_ok(session: requests.Session, request: PreparedRequest) -> bool:
    """True when ``requests`` would only carry ``request``: :mod:`.wire` may instead.

    Our adapter is mounted for the URL and ``requests``' and urllib3's sending code
    is the stock one: a library that patches it (``responses`` patches
    ``HTTPAdapter.send``, ``vcrpy`` the pools' connection classes; a replaced
    ``Session.get_adapter``) sees the call go through ``requests`` as before.
    ``requests-mock`` patches ``Session.send``: :func:`_plain_session` sees that.
    """
    adapter = session.get_adapter(str(request.url))
    return (type(adapter) is _ProviderAdapter and _stock(type(adapter).send, "requests.adapters")
            and _stock(type(session).get_adapter, "requests.sessions")
            and all(_stock(getattr(pool_class, "ConnectionCls", None), "urllib3.connection")
                    for pool_class in transport.DEADLINE_POOLS.values()))


#: URL -> (scheme, host, port, request target, Host header), for :mod:`.wire`. Bounded.
_wire_targets: dict[str, tuple[str, str, int, str, str]] = {}


@sensitive_variables()
def _wire_send(session: requests.Session, request: PreparedRequest, deadline: float,
               limit: int) -> requests.Response:
    """``request`` sent by :mod:`.wire`; a ``requests.Response`` with its body read."""
    url = str(request.url)
    target = _wire_targets.get(url)
    if target is None:
        parts = urlsplit(url)
        default = 443 if parts.scheme == "https" else 80
        host = parts.hostname or ""
        port = parts.port or default
        named = f"[{host}]" if ":" in host else host
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = (parts.scheme, host, port, path,
                  named if port == default else f"{named}:{port}")
        if len(_wire_targets) >= _PREPARED_URLS_MAX:
            _wire_targets.clear()
        _wire_targets[url] = target
    scheme, host, port, path, host_header = target
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {host_header}"]
    lines.extend(f"{name}: {value}" for name, value in request.headers.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    body = request.body if isinstance(request.body, bytes) else None
    answer = wire.exchange(str(request.method), scheme, host, port, head, body,
                           verify=session.verify, cert=session.cert, deadline=deadline,
                           limit=limit)
    response = requests.Response()
    response.status_code = answer.status
    response.headers = answer.headers
    response.encoding = get_encoding_from_headers(answer.headers)
    response.reason = answer.reason
    response.url = url
    response.request = request
    response._content = answer.body
    response._content_consumed = True  # type: ignore[attr-defined]
    transport.forget_request(response)
    return response


def _status_code(status: int, stage: str) -> str:
    """The OAuth code an error status implies when the body names none."""
    if status == 503:
        return "temporarily_unavailable"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "invalid_client" if stage == Stage.TOKEN else "unauthorized"
    if status == 403 and stage == Stage.API:
        return "insufficient_scope"
    if status == 400:
        return "invalid_request"
    return ""


@dataclasses.dataclass(frozen=True, repr=False)
class BinaryAnswer:
    """A successful non-JSON answer (the connect endpoints' protobuf body)."""

    content: bytes
    content_type: str
    headers: dict[str, str]

    def __repr__(self) -> str:
        return f"<BinaryAnswer {self.content_type or 'unknown type'} {len(self.content)} bytes>"


@sensitive_variables("secrets")
def check_answer(status: int, body: Any, headers: Any, *, stage: str,
                 secrets: list[str | None], response: requests.Response | None = None) -> None:
    """Raise the exception an answer reports, if it reports one.

    ``body`` is the decoded JSON (None when there was none): a flat
    ``{error, error_description}``, the live envelope's ``error`` object, or an
    envelope ``code >= 400`` (also under HTTP 200); otherwise the HTTP status.
    Codes and descriptions are redacted of ``secrets``. Shared by
    :class:`ProviderClient` and the SDK helper (:mod:`django_euler_oauth.sdk`).
    """
    envelope_code = body.get("code") if isinstance(body, dict) else None
    if status < 400 and isinstance(envelope_code, int) and 400 <= envelope_code < 600:
        status = envelope_code  # the live envelope can report an error under HTTP 200
    failure = error_fields(body)
    if failure is None and status < 400:
        return
    retry_after = parse_retry_after(headers)
    code, description = failure or ("", "")
    # The code is shown and logged like the description: it may echo what we sent.
    code = redact(code, secrets)[:64]
    if not code:
        code = _status_code(status, stage)
        description = description or (f"HTTP {status}" if body is None else "")
    if status == 429 and code in ("", "server_error"):
        raise RateLimited(redact(description, secrets), status=status, stage=stage,
                          response=response, retry_after=retry_after)
    raise error_for_code(code, redact(description, secrets),
                         status=status if status >= 400 else None, stage=stage,
                         response=response, retry_after=retry_after)


class ProviderClient:
    """Talks to Euler Stream (or the sandbox) on behalf of one :class:`OAuthClient`."""

    def __init__(self, oauth_client: OAuthClient, session: requests.Session | None = None):
        self.oauth_client = oauth_client
        self.session = session or get_session()

    # -- helpers ---------------------------------------------------------------

    @property
    def timeout(self) -> tuple[float, float]:
        value = app_settings.HTTP_TIMEOUT
        return (value, value)

    def _secrets(self, *extra: str | None) -> list[str | None]:
        return [self.oauth_client.client_secret, *extra]

    @sensitive_variables()
    def _send(self, method: str, url: str, *, stage: str, binary: bool = False,
              **kwargs: Any) -> requests.Response:
        """One request; the response with its whole body read (``.content`` set).

        The call as a whole (connect, wait, body) ends within ``EULER_OAUTH_HTTP_TIMEOUT``;
        an answer above ``EULER_OAUTH_MAX_RESPONSE_BYTES`` (``binary``: the binary limit)
        raises :class:`ResponseTooLarge` unread, a body shorter than its
        ``Content-Length`` a :class:`TransportError`. The response keeps neither the
        request body nor credential headers, and no error is chained to a
        ``requests`` exception (whose frames hold the body). When ``requests`` would
        add nothing to the call, :mod:`.wire` makes it (the same bytes on the wire).
        """
        budget = app_settings.HTTP_TIMEOUT
        deadline = time.monotonic() + budget
        limit = (app_settings.MAX_BINARY_RESPONSE_BYTES if binary
                 else app_settings.MAX_RESPONSE_BYTES)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Accept-Encoding", "identity")  # sizes are then what is sent
        failure = kind = detail = ""
        status: int | None = None
        session = self.session
        request: PreparedRequest | None = None
        response: requests.Response | None = None
        by_wire = False
        try:
            request = (_direct_request(session, method, url, headers, kwargs)
                       if _plain_session(session) else None)
            by_wire = request is not None and _wire_ok(session, request)
        except requests.RequestException as err:  # a bad URL, scheme or header, by type
            failure = f"failed: {type(err).__name__}"
        if by_wire and request is not None:
            try:
                response = _wire_send(session, request, deadline, limit)
            except wire.RequestFailed as err:
                failure = err.reason
            except transport.BodyError as err:
                kind, detail, status = err.kind, str(err), err.status
            request.body = None
        elif not failure:
            phase = transport.RequestPhase(deadline)
            try:
                with phase:
                    response = self._dispatch(session, request, method, url, budget,
                                              headers, kwargs)
            except requests.Timeout:
                failure = "timed out"
            except requests.RequestException as err:
                # The exception text can echo the URL or body: name only its type.
                failure = "timed out" if phase.fired else f"failed: {type(err).__name__}"
            if response is not None:
                transport.forget_request(response)
                status = response.status_code
                try:
                    transport.read_body(response, deadline=deadline, limit=limit)
                except transport.BodyError as err:
                    kind, detail = err.kind, str(err)
        if failure:  # raised outside the except block: no context holding the body
            if request is not None:
                request.body = None
            raise TransportError(f"{method} {_safe_url(url)} {failure}.", stage=stage)
        if not kind:
            assert response is not None
            return response
        where = f"{method} {_safe_url(url)}"  # named in errors only: built only for them
        if kind == "too_large":
            raise ResponseTooLarge(f"{where} answer refused: {detail}.", status=status,
                                   stage=stage)
        if kind == "timeout":
            raise TransportError(f"{where} timed out ({budget:g} s for the whole answer).",
                                 stage=stage)
        raise TransportError(f"{where} answer unusable: {detail}.", stage=stage)

    @staticmethod
    def _dispatch(session: requests.Session, request: PreparedRequest | None, method: str,
                  url: str, budget: float, headers: dict[str, str],
                  kwargs: dict[str, Any]) -> requests.Response:
        """Send through ``requests``; the response once its head is in (body streamed)."""
        if request is not None:
            # What session.request would send, straight to the mounted adapter (the
            # same pooled connections, TLS settings and requests' exceptions).
            return session.get_adapter(str(request.url)).send(
                request, stream=True, timeout=(budget, budget),
                verify=cast(Any, session.verify), cert=session.cert, proxies={})
        return session.request(method, url, timeout=(budget, budget), allow_redirects=False,
                               stream=True, headers=headers, **kwargs)

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
        response = self._send("POST", url, stage=stage, **kwargs)
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
        response = self._send("POST", url, stage=Stage.TOKEN, headers=self.key_headers(),
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
        response = self._send("GET", url, stage=Stage.API, headers=self.key_headers())
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

    @sensitive_variables()
    def api_call(self, method: str, path: str, access_token: str, *,
                 params: dict[str, Any] | None = None, json: Any = None,
                 binary: bool = False) -> Any:
        """One API call with the token sent the client's way; the decoded answer.

        ``binary``: the endpoint answers a non-JSON body on success (the connect
        endpoints' protobuf), returned as a :class:`BinaryAnswer`; a JSON answer
        is still read as usual, so error answers raise as everywhere else.
        """
        url = path if path.startswith(("http://", "https://")) else \
            self.oauth_client.url_for(path)
        secrets = [access_token, self.api_key]
        headers = self.auth_headers(access_token)
        if binary:
            headers["Accept"] = "application/x-protobuf, application/octet-stream, */*"
            response = self._send(method.upper(), url, stage=Stage.API, binary=True,
                                  params=params, json=json, headers=headers)
            ctype = response.headers.get("Content-Type", "")
            if response.status_code < 300 and "json" not in ctype.lower():
                return BinaryAnswer(response.content, ctype.split(";")[0].strip(),
                                    dict(response.headers))
        else:
            response = self._send(method.upper(), url, stage=Stage.API,
                                  params=params, json=json, headers=headers)
        return self._read(response, stage=Stage.API, secrets=secrets)


def _safe_url(url: str) -> str:
    """``url`` without its query string (which may hold a code or an API key)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


__all__ = ["USER_AGENT", "BinaryAnswer", "EulerOAuthError", "ProviderClient", "get_session"]
