"""The control page (HTML, CSRF-protected) and its JSON twin for scripts."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import controls
from ..live import VIEWER_KINDS
from ..models import FakeAccount


def _int(params: dict[str, Any], key: str, default: int) -> int:
    raw = params.get(key, default)
    try:
        return int(raw if raw not in ("", None) else default)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a whole number.") from None


def _endpoint(params: dict[str, Any]) -> str | None:
    return str(params.get("endpoint") or "") or None


ACTIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "expire_session": lambda p: controls.expire_session(str(p.get("unique_id", ""))),
    "expire_access_tokens": lambda p: controls.expire_access_tokens(
        unique_id=str(p["unique_id"]) if p.get("unique_id") else None,
        client_id=str(p["client_id"]) if p.get("client_id") else None),
    "expire_refresh_tokens": lambda p: controls.expire_refresh_tokens(
        unique_id=str(p["unique_id"]) if p.get("unique_id") else None,
        client_id=str(p["client_id"]) if p.get("client_id") else None),
    "set_latency": lambda p: controls.set_latency(_int(p, "ms", 0), _endpoint(p)),
    "fail_next": lambda p: controls.fail_next(_int(p, "count", 1), _int(p, "status", 500),
                                              _endpoint(p)),
    "rate_limit": lambda p: controls.rate_limit(_int(p, "seconds", 60), _endpoint(p)),
    "inject_error": lambda p: controls.inject_error(str(p.get("code", "")), _endpoint(p),
                                                    _int(p, "count", 1)),
    "go_live": lambda p: controls.go_live(str(p.get("unique_id", ""))),
    "end_live": lambda p: controls.end_live(str(p.get("unique_id", ""))),
    "viewer_event": lambda p: controls.viewer_event(
        str(p.get("unique_id", "")), str(p.get("kind", "")), _int(p, "count", 1),
        repeat_count=_int(p, "repeat_count", 1),
        repeat_end=p.get("repeat_end", True)),
    "drop_sockets": lambda p: controls.drop_sockets(str(p.get("unique_id", "")),
                                                    _int(p, "code", 4500)),
    "reset_counts": lambda p: controls.reset_counts(),
    "reset_faults": lambda p: controls.reset_faults(),
    "reset": lambda p: controls.reset(),
}


def run_action(params: dict[str, Any]) -> object:
    name = str(params.get("action", ""))
    action = ACTIONS.get(name)
    if action is None:
        raise ValueError(f"Unknown action {name!r}; one of {', '.join(ACTIONS)}.")
    try:
        return action(params)
    except FakeAccount.DoesNotExist:
        raise ValueError("No fake account with that uniqueId.") from None


def _times(count: object, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def done_message(params: Any, result: object) -> str:
    """What an action of the control page did, in a sentence (the page's confirmation)."""
    name = str(params.get("action", ""))
    endpoint = str(params.get("endpoint") or "")
    where = f"the {endpoint} endpoint" if endpoint else "every endpoint"
    who = f"@{str(params.get('unique_id', '')).lstrip('@')}" if params.get("unique_id") else ""
    count = params.get("count") or 1
    if name == "expire_session":
        return (f"The TikTok session of {who} ended: its connections now get "
                "session_expired and must be authorized again.")
    if name == "expire_access_tokens":
        return (f"{_times(result, 'access token', 'access tokens')} expired now"
                f"{' for ' + who if who else ''}: the next API call refreshes them.")
    if name == "expire_refresh_tokens":
        return (f"{_times(result, 'refresh token', 'refresh tokens')} expired now"
                f"{' for ' + who if who else ''}: those connections must be authorized "
                "again at their next refresh.")
    if name == "set_latency":
        ms = params.get("ms") or 0
        return (f"{where.capitalize()} now answers {ms} ms late." if str(ms) != "0"
                else f"{where.capitalize()} answers without delay again.")
    if name == "fail_next":
        return (f"The next {_times(count, 'request', 'requests')} to {where} fail with "
                f"HTTP {params.get('status') or 500}.")
    if name == "rate_limit":
        seconds = params.get("seconds") or 60
        return (f"{where.capitalize()} is rate-limited (HTTP 429) for {seconds} s."
                if str(seconds) != "0" else f"{where.capitalize()} is no longer rate-limited.")
    if name == "inject_error":
        return (f"The next {_times(count, 'request', 'requests')} to {where} answer the "
                f"error {params.get('code')}.")
    if name == "go_live":
        return (f"{who} is LIVE{'' if result else ' (it already was)'}: WebSocket clients "
                "can connect to its room.")
    if name == "end_live":
        return (f"{who} {'ended its LIVE' if result else 'was not LIVE'}: open WebSockets got "
                "the end of the stream and were closed with 4005; new ones are refused with "
                "4404.")
    if name == "viewer_event":
        return (f"{_times(result, 'message', 'messages')} ({params.get('kind')}) sent to the "
                f"open WebSockets of {who}.")
    if name == "drop_sockets":
        return f"Every open WebSocket of {who} was closed with code {result}."
    if name == "reset_counts":
        return "The call counters start again from zero."
    if name == "reset_faults":
        return "All faults are removed: every endpoint answers normally."
    if name == "reset":
        return "Faults and call counters are reset: every endpoint answers normally."
    return "Done."


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def staff_only_json(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """``staff_member_required`` for a JSON view: 403 with a JSON error, no redirect."""
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not _is_staff(request):
            return JsonResponse({"error": "Staff only: sign in as a staff user (the admin), "
                                          "then send the session and CSRF cookies and the "
                                          "X-CSRFToken header."}, status=403)
        return view(request, *args, **kwargs)
    return wrapper


# The sandbox rules what every connected user sees: only staff may look or change it,
# and every change is CSRF-protected (the page's forms, and X-CSRFToken for scripts).
@staff_member_required
@never_cache
@require_http_methods(["GET", "POST"])
def control_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            result = run_action(dict(request.POST.items()))
        except ValueError as err:
            messages.error(request, str(err), fail_silently=True)
        else:
            messages.success(request, done_message(request.POST, result), fail_silently=True)
        return HttpResponseRedirect(reverse("euler_sandbox:control"))
    return render(request, "euler_sandbox/control.html", {
        "state": controls.snapshot(), "endpoints": controls.ENDPOINTS,
        "accounts": FakeAccount.objects.all(), "api_errors": controls.API_ERRORS,
        "viewer_kinds": VIEWER_KINDS,
    })


@staff_only_json
@never_cache
@require_http_methods(["GET", "POST"])
def control_api(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        if "json" not in (request.content_type or ""):
            return JsonResponse({"error": "Send application/json."}, status=415)
        try:
            params = json.loads(request.body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("Send a JSON object.")
            result = run_action(params)
        except ValueError as err:
            return JsonResponse({"error": str(err)}, status=400)
        return JsonResponse({"ok": True, "result": result if isinstance(result, int) else None,
                             "state": controls.snapshot()})
    return JsonResponse(controls.snapshot())
