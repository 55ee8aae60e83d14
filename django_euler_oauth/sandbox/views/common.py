"""What every server-to-server endpoint of the sandbox does first: count, then faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .. import controls
from ..responses import failure

View = Callable[..., HttpResponse]


def provider_endpoint(name: str) -> Callable[[View], View]:
    """Count the call, apply injected latency/failures/rate limits, skip CSRF.

    CSRF does not apply: these endpoints are called server to server with
    client credentials or a bearer token, never with a browser's cookies.
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            controls.count_call(name)
            faults = controls.injected(name)
            controls.sleep_for(faults)
            if faults.rate_limit_reset is not None:
                reset = str(faults.rate_limit_reset)
                response = HttpResponse(
                    json.dumps({"code": 429, "message": "Too many requests, slow down."}),
                    status=429, content_type="application/json")
                response["RateLimit-Reset"] = reset
                response["Retry-After"] = reset
                return response
            if faults.fail_status is not None:
                status = faults.fail_status
                if status == 503:
                    return failure("temporarily_unavailable",
                                   "Service temporarily unavailable", status)
                return failure("server_error", "Internal server error", status)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def read_body(request: HttpRequest) -> dict[str, str] | None:
    """Fields of a form-encoded or JSON body (None when the body cannot be read)."""
    ctype = request.content_type or ""
    raw = request.body
    if "json" in ctype or raw[:1] == b"{":
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): v if isinstance(v, str) else "" if v is None else str(v)
                for k, v in data.items()}
    return {key: request.POST.get(key, "") for key in request.POST}
