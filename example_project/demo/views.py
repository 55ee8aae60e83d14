"""The example site's pages: the connection (connect, reconnect, disconnect), an API call,
and the LIVE console (chat, moderation, sensitive words, comments, earnings, analytics).

Every action is a POST with CSRF that redirects back (POST/redirect/GET): reloading a
page never sends anything twice. Results wait in the session or in messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from django_euler_oauth.api import EulerAPI, reauthorize_url
from django_euler_oauth.decorators import euler_scopes_required
from django_euler_oauth.errors import (
    ERRORS_BY_CODE,
    EulerOAuthError,
    InsufficientScope,
    NotDelegated,
)
from django_euler_oauth.live.models import Listening
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.scopes import describe
from django_euler_oauth.teams import delegated_scopes
from django_euler_oauth.templatetags.euler_oauth import time_left

API_RESULT = "demo_api_result"
RECONNECT = "demo_reconnect_url"
PROFILE = "demo_console_profile"
CHAT_SCOPE = "webcast:chat"
MUTE_DURATIONS = {"5": "5 seconds", "30": "30 seconds", "60": "1 minute", "300": "5 minutes",
                  "-1": "the rest of the LIVE"}
DIGITS = re.compile(r"[0-9]{1,25}")
MAX_CHAT, MAX_WORD = 150, 50


def _connection(request: HttpRequest) -> Connection | None:
    """The account every panel shows and acts on: the session's current one
    (``request.euler_connection``: the one chosen with ``switch``, a moderator's delegated
    one too), else the user's most recent own connection to the default client whatever
    its status (so a disconnected or expired one can be reconnected from here)."""
    current = getattr(request, "euler_connection", None)
    if current:
        return Connection.objects.select_related("client").get(pk=current.pk)
    try:
        client = OAuthClient.objects.resolve()
    except EulerOAuthError:
        return None
    return (Connection.objects.for_user(request.user).for_client(client)
            .select_related("client").order_by("-connected_at", "-pk").first())


def _usable(connection: Connection | None) -> bool:
    return bool(connection and connection.is_active and not connection.refresh_expired())


def _reason(connection: Connection) -> str:
    """Why a connection needs re-authorization, in words (never the raw code)."""
    cls = ERRORS_BY_CODE.get(connection.status_reason or "")
    if cls is not None and cls.category in ("reauthorize", "scope"):
        return str(cls.message)
    if connection.status == Connection.Status.REVOKED:
        return "The connection was disconnected."
    return "Euler Stream needs you to authorize this site again."


def _failed(request: HttpRequest, err: EulerOAuthError, doing: str) -> None:
    """A friendly message for a failed call, and the way to grant a missing permission."""
    messages.error(request, f"{doing} failed: {err.friendly_message}")
    url = getattr(err, "reauthorize_url", None)
    if isinstance(err, InsufficientScope) and url:
        request.session[RECONNECT] = url


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    if request.user.is_authenticated:
        connection = _connection(request)
        context["connection"] = connection
        context["is_owner"] = is_owner = (connection is not None
                                          and connection.user_id == request.user.pk)
        if connection is not None and not is_owner:  # a delegate: what the owner shared
            context["shared"] = delegated_scopes(request.user, connection) or []
            context["can_call_api"] = EulerAPI.for_request(request, connection).allows(
                "get_user_info")
        context["api_result"] = request.session.pop(API_RESULT, None)
        if connection is not None:
            usable = _usable(connection)
            context.update(
                usable=usable,
                access_left=time_left(connection.access_time_left) if usable else "—",
                refresh_left=time_left(connection.refresh_time_left) if usable else "—",
                reason="" if usable else _reason(connection),
                reconnect_url=reauthorize_url(connection, next_url=reverse("home")),
            )
    return render(request, "demo/home.html", context)


@require_POST
@login_required
def api_demo(request: HttpRequest) -> HttpResponse:
    """Ask get_user_info with the stored (and, when due, refreshed) token; show it on GET."""
    connection = request.euler_connection  # type: ignore[attr-defined]
    if not connection:
        messages.warning(request, "Connect your TikTok account first.")
        return redirect("home")
    try:
        # As request.user: a moderator on a streamer's account is held to the delegation.
        answer = EulerAPI.for_request(request).get_user_info()
    except NotDelegated as err:
        messages.error(request, f"The API call was refused: {err}")
        return redirect("home")
    except EulerOAuthError as err:
        _failed(request, err, "The API call")
        return redirect("home")
    request.session[API_RESULT] = json.dumps(answer, indent=2)[:4000]
    return redirect("home")


# -- the LIVE console --------------------------------------------------------------------

def _profile(request: HttpRequest, api: EulerAPI) -> dict[str, str]:
    """Who the connection is and which room is theirs (kept in the session per connection)."""
    cached = request.session.get(PROFILE)
    if isinstance(cached, dict) and cached.get("connection") == api.connection.pk:
        return cached
    # Which room is the streamer's: asked as the owner (not audited), so a moderator
    # given only mute/ban/sensitive words can still find the room they work on.
    answer = EulerAPI(api.connection).get_user_info()
    user = answer.get("user", answer) if isinstance(answer, dict) else {}
    profile = {
        "connection": api.connection.pk,
        "numeric_id": str(user.get("uid") or ""),
        "sec_uid": str(user.get("secUid") or ""),
        "unique_id": str(user.get("uniqueId") or ""),
        "nickname": str(user.get("nickName") or ""),
        "room_id": str(user.get("roomId") or ""),
    }
    request.session[PROFILE] = profile
    return profile


def _tiktok_data(answer: Any) -> Any:
    """TikTok's own answer inside Euler's envelope (``response.data.data``), else as is."""
    for key in ("response", "data", "data"):
        if isinstance(answer, dict) and key in answer:
            answer = answer[key]
    return answer


def _section(call: Callable[[], Any], api: EulerAPI | None = None,
             name: str = "") -> tuple[Any, str]:
    """One panel of the console: ``call``'s answer, or why not.

    With ``api`` and endpoint ``name``, a delegate's panel outside what the owner shared
    is not asked at all (no request, no refused row in the owner's audit trail just for
    opening the page).
    """
    if (api is not None and api.connection.user_id != api.acting_user.pk
            and not api.allows(name)):
        return None, str(NotDelegated.message)
    try:
        return call(), ""
    except (EulerOAuthError, NotDelegated) as err:
        return None, err.friendly_message


@login_required
def console(request: HttpRequest) -> HttpResponse:
    connection = _connection(request)
    context: dict[str, Any] = {"connection": connection,
                               "reconnect_url": request.session.pop(RECONNECT, None),
                               "mute_durations": MUTE_DURATIONS}
    if not _usable(connection):
        return render(request, "demo/console.html", context)
    assert connection is not None
    api = EulerAPI.for_request(request, connection)  # checked and audited as request.user
    profile, error = _section(lambda: _profile(request, api))
    context.update(profile=profile, profile_error=error,
                   has_chat=connection.has_scope(CHAT_SCOPE), **_live_context(request, api))
    if profile is None:
        return render(request, "demo/console.html", context)
    room, numeric, sec = profile["room_id"], profile["numeric_id"], profile["sec_uid"]
    context["has_room"] = bool(room)
    events, context["events_error"] = _section(
        lambda: api.retrieve_webcast_anchor_events(numeric).get("events", []),
        api, "retrieve_webcast_anchor_events")
    context["events"] = events or []
    # Known only from the room's events: None (not shown as on or off) without them.
    context["comments_enabled"] = None if events is None else next(
        (e.get("title") == "comments_on" for e in context["events"]
         if e.get("title") in ("comments_on", "comments_off")), True)
    words, context["words_error"] = _section(
        lambda: _tiktok_data(api.get_sensitive_words(room, sec)).get("words", []),
        api, "get_sensitive_words") if room else (None, "")  # no room: no filter to list
    context["words"] = words or []
    earnings, context["earnings_error"] = _section(
        lambda: api.retrieve_webcast_user_earnings(profile["unique_id"]).get("response"),
        api, "retrieve_webcast_user_earnings")
    context["earnings"] = earnings
    videos, context["videos_error"] = _section(
        lambda: _tiktok_data(api.retrieve_live_analytics_video_list(count=5))
        .get("video_list", []), api, "retrieve_live_analytics_video_list")
    context["videos"] = videos or []
    viewers = [e.get("user_id") for e in context["events"] if e.get("user_id") != numeric]
    context["sample_viewer"] = next((v for v in viewers if v), "7000000000000000002")
    return render(request, "demo/console.html", context)


def _live_context(request: HttpRequest, api: EulerAPI) -> dict[str, Any]:
    """The LIVE panel: the browser socket's path, the owner's listen switch, and which
    buttons the user's delegation allows on each comment."""
    connection = api.connection
    can_listen = api.allows("retrieve_webcast_anchor_events")  # webcast:fetch
    is_owner = connection.user_id == request.user.pk
    return {
        "is_owner": is_owner,
        # What the owner shared with a delegate, in words (the console shows only that).
        "shared": [] if is_owner else describe(delegated_scopes(request.user, connection)
                                               or []),
        "listening": Listening.objects.filter(connection=connection).first(),
        "can_listen": can_listen,
        "live_socket_path": f"/ws/live/{connection.pk}/" if can_listen else "",
        "can_chat": api.allows("send_room_chat"),
        "can_mute": api.allows("mute_room_user"),
        "can_ban": api.allows("kick_room_user"),
        "can_comments": api.allows("toggle_room_comments"),
        "can_words": api.allows("add_sensitive_word"),
        "can_earnings": api.allows("retrieve_webcast_user_earnings"),
        "can_analytics": api.allows("retrieve_live_analytics_video_list"),
    }


def _console_api(request: HttpRequest) -> tuple[EulerAPI, dict[str, str]] | None:
    connection = _connection(request)
    if not _usable(connection):
        messages.warning(request, "Connect your TikTok account first.")
        return None
    assert connection is not None
    api = EulerAPI.for_request(request, connection)  # checked and audited as request.user
    try:
        return api, _profile(request, api)
    except EulerOAuthError as err:
        _failed(request, err, "Finding your LIVE room")
        return None


def _no_room(profile: dict[str, str]) -> str:
    return (f"@{profile['unique_id'] or 'this account'} has no LIVE room: TikTok gives one "
            "to accounts allowed to go LIVE. Nothing was sent.")


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("console"))


def _viewer(request: HttpRequest) -> str | None:
    value = request.POST.get("user_id", "").strip()
    if not DIGITS.fullmatch(value):
        messages.error(request, "A viewer's user ID is a number, like 7000000000000000002.")
        return None
    return value


@require_POST
@login_required
def console_action(request: HttpRequest) -> HttpResponse:
    """One moderation action, then back to the console (POST/redirect/GET)."""
    found = _console_api(request)
    if found is None:
        return _back()
    api, profile = found
    room, sec = profile["room_id"], profile["sec_uid"]
    if not room:
        messages.error(request, _no_room(profile))
        return _back()
    action = request.POST.get("action", "")
    run: Callable[[], Any]
    if action in ("mute", "unmute", "kick", "unban"):
        viewer = _viewer(request)
        if viewer is None:
            return _back()
        if action == "mute":
            duration = request.POST.get("duration", "300")
            if duration not in MUTE_DURATIONS:
                messages.error(request, "Choose how long to mute the viewer.")
                return _back()
            done = f"Viewer {viewer} is muted for {MUTE_DURATIONS[duration]}."
            run = partial(api.mute_room_user, room, viewer, duration=int(duration))
        elif action == "unmute":
            done = f"Viewer {viewer} can comment again."
            run = partial(api.unmute_room_user, room, viewer)
        elif action == "kick":
            done = f"Viewer {viewer} was removed from your LIVE and cannot come back."
            run = partial(api.kick_room_user, room, viewer)
        else:
            done = f"Viewer {viewer} may join your LIVE again."
            run = partial(api.unban_room_user, room, viewer)
    elif action == "add_word":
        word = request.POST.get("word", "").strip()
        if not word or len(word) > MAX_WORD:
            messages.error(request, f"Type a word or phrase of at most {MAX_WORD} characters.")
            return _back()
        done = f"Comments containing “{word}” are now hidden."
        run = partial(api.add_sensitive_word, room, word, sec)
    elif action == "delete_word":
        word_id = request.POST.get("word_id", "")
        if not DIGITS.fullmatch(word_id):
            messages.error(request, "That word is not in the list.")
            return _back()
        done = f"“{request.POST.get('word', 'The word')[:MAX_WORD]}” is no longer filtered."
        run = partial(api.delete_sensitive_word, room, word_id, sec)
    elif action in ("comments_on", "comments_off"):
        enabled = action == "comments_on"
        done = ("Viewers can comment again." if enabled
                else "Comments are turned off: viewers cannot comment.")
        run = partial(api.toggle_room_comments, room, enabled)
    else:
        messages.error(request, "Unknown action.")
        return _back()
    try:
        run()
    except NotDelegated as err:  # a delegate's action the owner did not share
        messages.error(request, f"That action was refused: {err.friendly_message}")
    except EulerOAuthError as err:
        _failed(request, err, "That action")
    else:
        messages.success(request, done)
    return _back()


@euler_scopes_required(CHAT_SCOPE)
def console_chat(request: HttpRequest) -> HttpResponse:
    """The chat box. Behind webcast:chat: a connection without it grants it first
    (incremental authorization) and comes back here, then to the console."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("console") + "#chat")
    found = _console_api(request)
    if found is None:
        return _back()
    api, profile = found
    if not profile["room_id"]:
        messages.error(request, _no_room(profile))
        return _back()
    content = request.POST.get("content", "").strip()
    if not content or len(content) > MAX_CHAT:
        messages.error(request, f"Type a message of at most {MAX_CHAT} characters.")
        return HttpResponseRedirect(reverse("console") + "#chat")
    try:
        api.send_room_chat(profile["room_id"], content=content)
    except NotDelegated as err:
        messages.error(request, f"Your message was refused: {err.friendly_message}")
    except EulerOAuthError as err:
        _failed(request, err, "Sending your message")
    else:
        messages.success(request, "Your message was sent to your LIVE room.")
    return HttpResponseRedirect(reverse("console") + "#chat")
