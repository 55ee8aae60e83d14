"""The control page (HTML, CSRF-protected) and its JSON twin for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .. import controls
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


@never_cache
@require_http_methods(["GET", "POST"])
def control_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            result = run_action(dict(request.POST.items()))
        except ValueError as err:
            messages.error(request, str(err))
        else:
            messages.success(request, f"{request.POST.get('action')}: done"
                             + (f" ({result})" if isinstance(result, int) else ""))
        return HttpResponseRedirect(reverse("euler_sandbox:control"))
    return render(request, "euler_sandbox/control.html", {
        "state": controls.snapshot(), "endpoints": controls.ENDPOINTS,
        "accounts": FakeAccount.objects.all(),
    })


@csrf_exempt  # JSON only: a browser cannot send application/json cross-site without CORS
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
