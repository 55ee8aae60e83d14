"""``POST accounts/<account_id>/jwt/create``: short tokens for the sandbox's WebSocket.

Authenticated with the sandbox client's API key (``X-Api-Key``, or ``apiKey`` in the
query), as Euler authenticates it; ``account_id`` must be that client's
(:attr:`~..models.SandboxClient.euler_account_id`). The answer is Euler's
``{code, message, token, config}``; the token is never logged.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.debug import sensitive_variables

from .. import live
from .common import provider_endpoint


def _answer(code: int, message: str) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message}, status=code)
    response["Cache-Control"] = "no-store"
    return response


@provider_endpoint("create_jwt")
@sensitive_variables("key", "token")
def create_jwt(request: HttpRequest, account_id: str) -> HttpResponse:
    if request.method != "POST":
        response = _answer(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    key = request.headers.get("X-Api-Key") or request.GET.get("apiKey", "")
    client = live.client_for_key(key)
    if client is None:
        return _answer(401, "Missing or invalid API key (X-Api-Key).")
    if account_id != client.euler_account_id:
        return _answer(403, f"This API key has no access to account {account_id[:20]}.")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _answer(400, "Malformed JSON body.")
    if not isinstance(body, dict):
        return _answer(400, "The JSON body must be an object.")
    try:
        token, config = live.create_jwt(client, body)
    except ValueError as err:
        return _answer(400, str(err))
    response = JsonResponse({"code": 200, "message": "OK", "token": token, "config": config})
    response["Cache-Control"] = "no-store"
    return response
