"""``GET tiktok/oauth/authorize``: the three documented screens, then the redirect back.

Introduction (the app's name) -> permissions review (each scope described) ->
QR code (refreshed when it expires; scanning it opens the "phone" page, or the
"Simulate scan" button does both steps at once) -> redirect to the client's
``redirect_uri`` with ``code`` and ``state``. Like the TikTok app, the sandbox remembers
the account last logged in with this browser (a signed cookie): the permissions screen
marks "new" what that account has not given this app yet, and the QR screen offers it
first. Errors about the client or its
redirect URI are shown here (status 400); every other error goes back on the
redirect, with the state, as the provider documents.
"""

from __future__ import annotations

import datetime
import functools
import re
import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .. import controls
from ..issuing import issue_code
from ..models import AuthorizationRequest, FakeAccount, Grant, SandboxClient, find_client
from ..qr import qr_data_uri, text_code
from ..scopes import describe, first_invalid, spec_names
from ..setup import ensure_accounts

REQUEST_LIFETIME = datetime.timedelta(minutes=10)
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class Redirect(HttpResponseRedirect):
    # The client's redirect URI may be any registered scheme (http on loopback, custom apps).
    allowed_schemes = ["http", "https"]


def redirect_back(redirect_uri: str, **params: str) -> HttpResponse:
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value != "" or key == "state"]
    return Redirect(urlunsplit(parts._replace(query=urlencode(query))))


def _problem(request: HttpRequest, code: str, description: str, status: int = 400
             ) -> HttpResponse:
    return render(request, "euler_sandbox/problem.html",
                  {"code": code, "description": description}, status=status)


def _validate_pkce(client: SandboxClient, challenge: str, method: str) -> str | None:
    """The invalid_request description for bad PKCE parameters, or None."""
    if not challenge:
        if client.require_pkce:
            return "Missing required parameter: code_challenge"
        if method:
            return "Missing required parameter: code_challenge"
        return None
    if not method:
        return "Missing required parameter: code_challenge_method"
    if method != "S256":
        return "Unsupported code_challenge_method: only S256 is supported"
    if not CHALLENGE_RE.match(challenge):
        return "Invalid code_challenge: expected 43 base64url characters"
    return None


@never_cache
@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    controls.count_call("authorize")
    faults = controls.injected("authorize")
    controls.sleep_for(faults)
    params = request.GET
    client_id = params.get("client_id", "")
    if not client_id:
        return _problem(request, "invalid_request", "Missing required parameter: client_id")
    client = find_client(client_id)
    if client is None:
        return _problem(request, "invalid_client", "Unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        return _problem(request, "invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in client.redirect_uri_list:
        return _problem(request, "invalid_redirect_uri",
                        "Redirect URI not registered for this client")
    state = params.get("state", "")

    def fail(code: str, description: str) -> HttpResponse:
        return redirect_back(redirect_uri, error=code, error_description=description,
                             state=state)

    if faults.rate_limit_reset is not None:
        return fail("temporarily_unavailable", "Too many requests, try again later")
    if faults.fail_status is not None:
        return fail("server_error", "Internal server error")
    response_type = params.get("response_type", "")
    if not response_type:
        return fail("invalid_request", "Missing required parameter: response_type")
    if response_type != "code":
        return fail("unsupported_response_type", "Only response_type=code is supported")
    scopes = params.get("scope", "").replace(",", " ").split()
    if not scopes:
        return fail("invalid_request", "Missing required parameter: scope")
    invalid = first_invalid(scopes)
    if invalid is not None:
        return fail("invalid_scope", f"Invalid scope: {invalid[:100]}")
    challenge = params.get("code_challenge", "")
    problem = _validate_pkce(client, challenge, params.get("code_challenge_method", ""))
    if problem:
        return fail("invalid_request", problem)
    now = timezone.now()
    auth = AuthorizationRequest.objects.create(
        public_id=secrets.token_urlsafe(24), client=client, redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)), state=state[:2048], code_challenge=challenge,
        qr_token=secrets.token_urlsafe(16),
        qr_expires_at=now + datetime.timedelta(seconds=client.qr_lifetime),
        created_at=now, expires_at=now + REQUEST_LIFETIME,
    )
    return render(request, "euler_sandbox/introduction.html", {"auth": auth, "client": client})


def _pending(public_id: str) -> AuthorizationRequest:
    auth = (AuthorizationRequest.objects.select_related("client", "account")
            .filter(public_id=public_id).first())
    if auth is None:
        raise Http404("No such authorization request.")
    return auth


def _expired(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse | None:
    if auth.status in (auth.Status.COMPLETED, auth.Status.CANCELLED):
        return _problem(request, "invalid_request",
                        "This authorization request is already finished. Start again from "
                        "the application.")
    if auth.expires_at <= timezone.now():
        return _problem(request, "invalid_request",
                        "This authorization request expired (10 minutes). Start again from "
                        "the application.")
    return None


def _live(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view gets the pending request ``public_id`` names, unless it is finished or
    expired (then the sandbox's error page)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, public_id: str) -> HttpResponse:
        auth = _pending(public_id)
        return _expired(request, auth) or view(request, auth)

    return wrapper


#: The TikTok account last logged in with this browser (signed), like the real app's
#: session: the permissions screen compares with what it already allowed.
ACCOUNT_COOKIE = "euler_sandbox_account"
_COOKIE_SALT = "django_euler_oauth.sandbox.account"


def _remembered(request: HttpRequest) -> FakeAccount | None:
    unique_id = request.get_signed_cookie(ACCOUNT_COOKIE, default=None, salt=_COOKIE_SALT)
    return FakeAccount.objects.filter(unique_id=unique_id).first() if unique_id else None


def _remember(response: HttpResponse, account: FakeAccount) -> HttpResponse:
    path = reverse("euler_sandbox:authorize").rsplit("/", 1)[0] + "/"
    response.set_signed_cookie(ACCOUNT_COOKIE, account.unique_id, salt=_COOKIE_SALT,
                               max_age=30 * 86400, path=path, httponly=True, samesite="Lax")
    return response


def _granted(client: SandboxClient, account: FakeAccount) -> set[str]:
    """The scopes (spec names) ``account`` has given ``client`` in grants still alive."""
    rows = Grant.objects.filter(client=client, account=account, revoked_at__isnull=True)
    return set(spec_names([scope for grant in rows for scope in grant.scope_list]))


@never_cache
@require_GET
@_live
def permissions(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse:
    """Each scope described; with an account logged in here before that already allowed
    this app some (incremental authorization), the others are marked "new"."""
    account = _remembered(request)
    granted = _granted(auth.client, account) if account else set()
    scopes = [(scope, description, bool(granted) and spec_names([scope])[0] not in granted)
              for scope, description in describe(auth.scope_list)]
    return render(request, "euler_sandbox/permissions.html", {
        "auth": auth, "client": auth.client, "scopes": scopes,
        "account": account, "granted": bool(granted),
        "new_count": sum(1 for _scope, _text, new in scopes if new)})


def _fresh_qr(auth: AuthorizationRequest) -> AuthorizationRequest:
    """Issue a new QR token when the shown one expired (the page then shows the new one)."""
    now = timezone.now()
    if auth.qr_expires_at <= now:
        auth.qr_token = secrets.token_urlsafe(16)
        auth.qr_expires_at = now + datetime.timedelta(seconds=auth.client.qr_lifetime)
        AuthorizationRequest.objects.filter(pk=auth.pk, status=auth.Status.PENDING).update(
            qr_token=auth.qr_token, qr_expires_at=auth.qr_expires_at)
    return auth


@never_cache
@require_GET
@_live
def qr(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse:
    _fresh_qr(auth)
    phone_url = request.build_absolute_uri(
        reverse("euler_sandbox:phone", args=[auth.public_id]) + "?" +
        urlencode({"qr": auth.qr_token}))
    seconds_left = max(1, int((auth.qr_expires_at - timezone.now()).total_seconds()))
    remembered = _remembered(request)
    return render(request, "euler_sandbox/qr.html", {
        "auth": auth, "client": auth.client, "qr_image": qr_data_uri(phone_url),
        "qr_text": text_code(auth.qr_token), "phone_url": phone_url,
        "seconds_left": seconds_left, "accounts": ensure_accounts(),
        "remembered": remembered.unique_id if remembered else "",
    })


@never_cache
@require_GET
def status(request: HttpRequest, public_id: str) -> JsonResponse:
    """Polled by the QR page: has the phone confirmed, and is the QR still current?"""
    auth = _pending(public_id)
    left = (auth.qr_expires_at - timezone.now()).total_seconds()
    return JsonResponse({"status": auth.status, "qr_expires_in": max(0, int(left)),
                         "qr_token_hint": text_code(auth.qr_token)})


def _account_from(request: HttpRequest) -> FakeAccount:
    accounts = ensure_accounts()
    chosen = request.POST.get("account", "")
    for account in accounts:
        if account.unique_id == chosen:
            return account
    return accounts[0]


def _finish(auth: AuthorizationRequest) -> HttpResponse:
    """Issue the code once and send the browser back to the client."""
    if not AuthorizationRequest.objects.filter(
            pk=auth.pk, status__in=(auth.Status.PENDING, auth.Status.CONFIRMED)
    ).update(status=auth.Status.COMPLETED):
        raise Http404("This authorization request is already finished.")
    code = issue_code(auth)
    response = redirect_back(auth.redirect_uri, code=code, state=auth.state)
    return _remember(response, auth.account) if auth.account else response


@never_cache
@require_POST
@_live
def confirm(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse:
    """The "Simulate scan and confirm on phone" button: scan, confirm, redirect back."""
    auth.account = _account_from(request)
    AuthorizationRequest.objects.filter(pk=auth.pk).update(account=auth.account)
    return _finish(auth)


@never_cache
@_live
def phone(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse:
    """What the QR code opens: the "phone" asks to confirm the login."""
    token = request.POST.get("qr") if request.method == "POST" else request.GET.get("qr")
    now = timezone.now()
    if (not token or not secrets.compare_digest(token, auth.qr_token)
            or auth.qr_expires_at <= now):
        return _problem(request, "expired_qr",
                        "This QR code has expired. Scan the new code on your computer.")
    if request.method == "POST":
        account = _account_from(request)
        AuthorizationRequest.objects.filter(pk=auth.pk, status=auth.Status.PENDING).update(
            status=auth.Status.CONFIRMED, account=account)
        return render(request, "euler_sandbox/phone.html",
                      {"auth": auth, "client": auth.client, "done": True, "account": account})
    return render(request, "euler_sandbox/phone.html", {
        "auth": auth, "client": auth.client, "accounts": ensure_accounts(), "qr": token})


@never_cache
@require_GET
@_live
def complete(request: HttpRequest, auth: AuthorizationRequest) -> HttpResponse:
    """Where the QR page goes once the phone confirmed."""
    if auth.status != auth.Status.CONFIRMED:
        return HttpResponseRedirect(reverse("euler_sandbox:qr", args=[auth.public_id]))
    return _finish(auth)


@never_cache
@require_POST
def cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    auth = _pending(public_id)
    if not AuthorizationRequest.objects.filter(
            pk=auth.pk, status__in=(auth.Status.PENDING, auth.Status.CONFIRMED)
    ).update(status=auth.Status.CANCELLED):
        return _problem(request, "invalid_request", "This authorization request is finished.")
    return redirect_back(auth.redirect_uri, error="access_denied",
                         error_description="User cancelled authorization", state=auth.state)
