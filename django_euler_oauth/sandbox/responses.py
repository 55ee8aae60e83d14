"""JSON answers the way each sandbox client wants them: flat (documented) or enveloped."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from .models import SandboxClient

STATUS_MESSAGES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   429: "Too Many Requests", 500: "Internal Server Error",
                   503: "Service Unavailable"}


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def success(data: dict[str, Any], client: SandboxClient | None = None) -> JsonResponse:
    if client is not None and client.enveloped:
        body: dict[str, Any] = {"code": 200, "message": "OK", "data": data, "error": None}
    else:
        body = data
    return _no_store(JsonResponse(body))


def failure(code: str, description: str, status: int = 400,
            client: SandboxClient | None = None,
            headers: dict[str, str] | None = None) -> JsonResponse:
    error = {"error": code, "error_description": description}
    if client is not None and client.enveloped:
        body: dict[str, Any] = {"code": status, "message": description, "data": None,
                                "error": error}
    else:
        body = error
    response = JsonResponse(body, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    if status == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = f'Bearer error="{code}"'
    return _no_store(response)
