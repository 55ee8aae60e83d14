"""Calling the Euler Stream API with a user's connection.

:class:`EulerAPI` sends the connection's access token the client's way
(``Authorization: Bearer`` as documented, or ``x-oauth-token`` with the
account's API key as the live service wants) and handles every documented API
error: ``token_expired`` refreshes and retries once; ``invalid_token`` and
``revoked_token`` require re-authorization; ``session_expired`` revokes and
clears the tokens; ``insufficient_scope`` names the missing scope and the URL
to re-authorize with it; 429 and 503 are retried a bounded number of times,
honouring the reset headers.

Every endpoint of :mod:`django_euler_oauth.endpoints` has a typed method here,
named like the function of Euler's Python SDK that calls it
(``api.mute_room_user(room_id, user_id, duration=5)``); each is a thin wrapper
over :meth:`EulerAPI.call`, which checks the connection's scopes before any
request is made.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.views.decorators.debug import sensitive_variables

from . import audit
from .client import BinaryAnswer, ProviderClient
from .endpoints import BYTES, ENDPOINTS_BY_NAME, Endpoint, endpoint_for
from .errors import InsufficientScope, MalformedResponse, NotDelegated, Stage
from .recovery import with_connection_token
from .scopes import reauthorize_url
from .teams import may_use

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import Connection

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["BinaryAnswer", "EulerAPI", "awaitable", "python_name", "reauthorize_url",
           "with_connection_token"]


def awaitable(method: Callable[Concatenate[EulerAPI, P], R]
              ) -> Callable[Concatenate[EulerAPI, P], Coroutine[Any, Any, R]]:
    """The awaitable twin of an :class:`EulerAPI` method, for async code (a consumer, a
    signal receiver): the same call, with the same scope checks, delegation, audit row and
    single refresh, run by Django's ``sync_to_async`` so the event loop never waits on the
    database or the provider. Named with an ``a`` prefix, as Django names its own
    (``api.amute_room_user(...)`` for ``api.mute_room_user(...)``)."""
    run = sync_to_async(method)

    async def twin(self: EulerAPI, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await run(self, *args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + method.__name__
    twin.__doc__ = (f"Awaitable :meth:`{method.__name__}`: the same checks, audit and "
                    "refresh, without blocking the event loop.")
    twin.__wrapped__ = method  # type: ignore[attr-defined]
    return twin


def python_name(wire: str) -> str:
    """The Python keyword for a wire name (``targetRoomId`` -> ``target_room_id``).

    The connect endpoints' ``client`` query parameter is ``client_query``, as
    in Euler's SDK (``client`` names the HTTP client there).
    """
    if wire == "client":
        return "client_query"
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), wire)


def _wire_value(value: Any) -> Any:
    """Query values the way Euler's SDK (httpx) writes them: booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _split(endpoint: Endpoint, params: dict[str, Any]
           ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``params`` (Python or wire names) as path, query and body values; TypeError if bad."""
    names: dict[str, tuple[str, str]] = {}
    for wire in endpoint.path_params:
        names[wire] = ("path", wire)
    for part, wires in (("query", endpoint.query), ("body", endpoint.body)):
        for wire in wires:
            names.setdefault(python_name(wire), (part, wire))
            names.setdefault(wire, (part, wire))
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise TypeError(f"{endpoint.name}() got unexpected parameter(s): "
                        f"{', '.join(unknown)}.")
    parts: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "body": {}}
    for name, value in params.items():
        if value is None:
            continue  # omitted, as the SDK omits UNSET
        part, wire = names[name]
        parts[part][wire] = value
    missing = [python_name(wire) for wire in (*endpoint.path_params, *endpoint.required)
               if parts["path"].get(wire, parts["query"].get(wire, parts["body"].get(wire)))
               in (None, "")]
    if missing:
        raise TypeError(f"{endpoint.name}() is missing required parameter(s): "
                        f"{', '.join(missing)}.")
    query = {wire: _wire_value(value) for wire, value in parts["query"].items()}
    return parts["path"], query, parts["body"]


class EulerAPI:
    """The Euler API on behalf of one connection.

    ``api = EulerAPI(connection)``; then one typed method per endpoint
    (``api.retrieve_room_muted_users(room_id)``), :meth:`call` by endpoint
    name, or :meth:`request` for any path. JSON answers come back decoded;
    the connect endpoints' protobuf answers as a :class:`BinaryAnswer`.
    """

    def __init__(self, connection: Connection, acting_user: Any = None, *,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.connection = connection
        #: The site user making the calls (the owner or a delegate). Default: the user a
        #: connection handed out by the request carries (a delegate, see
        #: ``Connection.acting_user``); None acts as the owner without checks or audit
        #: rows, for a connection the site loaded itself.
        self.acting_user = acting_user if acting_user is not None else \
            getattr(connection, "acting_user", None)
        self.provider = ProviderClient(connection.client)
        self._sleep = sleep

    @classmethod
    def for_request(cls, request: HttpRequest, connection: Connection | None = None,
                    **kwargs: Any) -> EulerAPI:
        """The API on ``connection`` (default: ``request.euler_connection``), acting as
        ``request.user``. Raises :class:`~django_euler_oauth.errors.NotDelegated` when
        there is no connection the user may use."""
        connection = connection or getattr(request, "euler_connection", None)
        if not connection:
            raise NotDelegated(str(NotDelegated.message))
        return cls(connection, acting_user=request.user, **kwargs)

    @classmethod
    async def afor_request(cls, request: HttpRequest, connection: Connection | None = None,
                           **kwargs: Any) -> EulerAPI:
        """:meth:`for_request` for async views: the request's connection is awaited
        (``request.aeuler_connection()``) instead of read."""
        if connection is None and hasattr(request, "aeuler_connection"):
            connection = await request.aeuler_connection()
        if not connection:
            raise NotDelegated(str(NotDelegated.message))
        user = await request.auser() if hasattr(request, "auser") else request.user
        return cls(connection, acting_user=user, **kwargs)

    def _check_acting_user(self, endpoint: Endpoint, params: dict[str, Any]) -> None:
        """NotDelegated (and a refused audit row) unless the acting user may call it."""
        if self.acting_user is None or may_use(self.acting_user, self.connection,
                                               endpoint.scopes):
            return
        err = NotDelegated(f"{endpoint.name} needs the scope: {endpoint.scope}",
                           endpoint=endpoint.name, missing_scope=endpoint.scope)
        self._record(endpoint, params, err)
        raise err

    def _record(self, endpoint: Endpoint, params: dict[str, Any],
                error: BaseException | None = None) -> None:
        """The call's audit row, when the trail wants one.

        The trail answers "who did what as the streamer": every call a delegate makes
        (refused ones included) and the owner's own calls that change something; the
        owner's reads (a console page loading) are not rows.
        """
        user = self.acting_user
        if user is None:
            return
        owner = getattr(user, "pk", None) == self.connection.user_id
        if owner and endpoint.method == "GET":
            return
        audit.record(self.connection, user, endpoint, params, error)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, binary: bool = False) -> Any:
        """Call ``path`` on the client's API host; the decoded answer.

        ``binary``: a successful non-JSON answer comes back as a
        :class:`BinaryAnswer`. Raises a
        :class:`~django_euler_oauth.errors.EulerOAuthError` subclass (see
        :func:`with_connection_token` for which and when).
        """
        if self.acting_user is not None:
            found = endpoint_for(method, path)
            if found is None:
                # Outside the endpoint table nothing says which scope it needs: owner only.
                if not getattr(self.acting_user, "is_authenticated", False) or \
                        self.acting_user.pk != self.connection.user_id:
                    raise NotDelegated(f"{method} {path} is not an endpoint a delegate "
                                       "may call.")
            else:
                return self._audited(found[0], {**found[1], **(params or {})},
                                     method, path, params, json, binary)
        return self._send(method, path, params, json, binary)

    def _send(self, method: str, path: str, params: dict[str, Any] | None, json: Any,
              binary: bool) -> Any:
        @sensitive_variables("token")
        def attempt(token: str) -> Any:
            return self.provider.api_call(method, path, token, params=params, json=json,
                                          binary=binary)

        return with_connection_token(self.connection, attempt, sleep=self._sleep)

    def _audited(self, endpoint: Endpoint, audit_params: dict[str, Any], method: str,
                 path: str, params: dict[str, Any] | None, json: Any, binary: bool) -> Any:
        return self.audited(endpoint, audit_params,
                            lambda: self._send(method, path, params, json, binary))

    def audited(self, endpoint: Endpoint, params: dict[str, Any],
                send: Callable[[], T]) -> T:
        """Check the acting user, ``send()``, and write the call's audit row whatever
        happens (the SDK helper's calls as a delegate come through here too)."""
        self._check_acting_user(endpoint, params)
        try:
            answer = send()
        except Exception as err:
            self._record(endpoint, params, err)
            raise
        self._record(endpoint, params)
        return answer

    def get(self, path: str, **params: Any) -> Any:
        """``GET path?params``; the decoded answer."""
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        """``POST path`` with a JSON body; the decoded answer."""
        return self.request("POST", path, params=params or None, json=json)

    def userinfo(self) -> dict[str, Any]:
        """Who the connection belongs to (``/tiktok/oauth/userinfo``): the ``user`` object."""
        body = self.get("/tiktok/oauth/userinfo")
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise MalformedResponse("userinfo answer has no user object.", stage=Stage.API)
        return user

    def allows(self, name: str) -> bool:
        """True when the connection's granted scopes (and, with an acting user, their
        delegation) allow endpoint ``name``."""
        endpoint = ENDPOINTS_BY_NAME[name]
        if self.acting_user is not None and not may_use(self.acting_user, self.connection,
                                                        endpoint.scopes):
            return False
        return endpoint.allowed_by(self.connection.scope_list)

    def call(self, name: str, /, **params: Any) -> Any:
        """Call the endpoint ``name`` of :data:`~django_euler_oauth.endpoints.ENDPOINTS`.

        ``params`` by Python name (``target_room_id``) or wire name
        (``targetRoomId``); None means "leave out". They are split into path,
        query and body by the table. A missing required one or an unknown one
        is a ``TypeError``; an endpoint the connection's scopes do not allow
        raises :class:`~django_euler_oauth.errors.InsufficientScope` (with
        ``missing_scope`` and ``reauthorize_url``) before any request is made.
        Returns the decoded JSON, or a :class:`BinaryAnswer` for the
        endpoints that answer protobuf.
        """
        try:
            endpoint = ENDPOINTS_BY_NAME[name]
        except KeyError:
            raise ValueError(f"No Euler API endpoint is named {name!r}.") from None
        path_values, query, body = _split(endpoint, params)
        self._check_acting_user(endpoint, params)
        if not endpoint.allowed_by(self.connection.scope_list):
            err = InsufficientScope(f"{endpoint.name} needs the scope: {endpoint.scope}",
                                    stage=Stage.LOCAL)
            err.reauthorize_url = reauthorize_url(  # type: ignore[attr-defined]
                self.connection, endpoint.scope)
            self._record(endpoint, params, err)
            raise err
        args = (endpoint.method, endpoint.url_path(**path_values), query or None,
                body if endpoint.body else None, endpoint.answer == BYTES)
        if self.acting_user is None:
            return self._send(*args)
        return self._audited(endpoint, params, *args)

    arequest = awaitable(request)
    aget = awaitable(get)
    apost = awaitable(post)
    auserinfo = awaitable(userinfo)
    acall = awaitable(call)

    # -- one typed method per endpoint of the table, each with its awaitable twin ---------
    # A test keeps them in step with endpoints.py (names, parameters, answer types).

    def get_user_info(self) -> dict[str, Any]:
        """The TikTok account that authorized the token.

        ``GET /tiktok/oauth/userinfo``; scope ``user:info`` or ``user:consents``.
        """
        return self.call("get_user_info")

    aget_user_info = awaitable(get_user_info)

    def retrieve_bulk_live_check(self, user_numeric_ids: list[str]) -> dict[str, Any]:
        """Whether several accounts are LIVE, by numeric id.

        ``POST /webcast/bulk_live_check``; scope ``webcast:bulk_live_check``.
        """
        return self.call("retrieve_bulk_live_check", user_numeric_ids=user_numeric_ids)

    aretrieve_bulk_live_check = awaitable(retrieve_bulk_live_check)

    def retrieve_webcast_rankings(
            self, region: str, rank_type: str, *, session_id: str | None = None,
            tt_target_idc: str | None = None) -> dict[str, Any]:
        """A region's LIVE rankings.

        ``GET /webcast/rankings``; scope ``webcast:rankings``.
        """
        return self.call("retrieve_webcast_rankings",
                         region=region, rank_type=rank_type, session_id=session_id,
                         tt_target_idc=tt_target_idc)

    aretrieve_webcast_rankings = awaitable(retrieve_webcast_rankings)

    def retrieve_room_rankings(self, room_id: str, anchor_id: str) -> dict[str, Any]:
        """A room's viewer rankings.

        ``GET /webcast/rooms/{room_id}/rankings``; scope ``webcast:rankings``.
        """
        return self.call("retrieve_room_rankings", room_id=room_id, anchor_id=anchor_id)

    aretrieve_room_rankings = awaitable(retrieve_room_rankings)

    def fetch_webcast_url(
            self, room_id: str, *, client_query: str | None = None, cursor: str | None = None,
            user_agent: str | None = None, client_enter: bool | None = None,
            platform: str | None = None) -> BinaryAnswer:
        """The signed first fetch of a room's events (protobuf).

        ``GET /webcast/rooms/{room_id}/connect``; scope ``webcast:fetch`` or ``webcast:sign_url``.
        """
        return self.call("fetch_webcast_url",
                         room_id=room_id, client_query=client_query, cursor=cursor,
                         user_agent=user_agent, client_enter=client_enter, platform=platform)

    afetch_webcast_url = awaitable(fetch_webcast_url)

    def fetch_webcast_url_by_unique_id(
            self, unique_id: str, *, client_query: str | None = None,
            cursor: str | None = None, user_agent: str | None = None,
            client_enter: bool | None = None, platform: str | None = None) -> BinaryAnswer:
        """The signed first fetch of a creator's room, by @uniqueId (protobuf).

        ``GET /webcast/anchors/{unique_id}/connect``;
        scope ``webcast:fetch`` or ``webcast:sign_url``.
        """
        return self.call("fetch_webcast_url_by_unique_id",
                         unique_id=unique_id, client_query=client_query, cursor=cursor,
                         user_agent=user_agent, client_enter=client_enter, platform=platform)

    afetch_webcast_url_by_unique_id = awaitable(fetch_webcast_url_by_unique_id)

    def retrieve_webcast_anchor_events(
            self, numeric_id: str, *, page: int | None = None) -> dict[str, Any]:
        """Recent events of a creator's LIVE room.

        ``GET /webcast/events/anchors/{numeric_id}``; scope ``webcast:fetch``.
        """
        return self.call("retrieve_webcast_anchor_events", numeric_id=numeric_id, page=page)

    aretrieve_webcast_anchor_events = awaitable(retrieve_webcast_anchor_events)

    def retrieve_webcast_gift_gallery(
            self, unique_id: str, *, webcast_language: str | None = None) -> dict[str, Any]:
        """The gifts a creator's room offers.

        ``GET /webcast/anchors/{unique_id}/gift_gallery``; scope ``webcast:fetch``.
        """
        return self.call("retrieve_webcast_gift_gallery",
                         unique_id=unique_id, webcast_language=webcast_language)

    aretrieve_webcast_gift_gallery = awaitable(retrieve_webcast_gift_gallery)

    def retrieve_webcast_user_earnings(
            self, unique_id: str, *, period: str | None = None, session_id: str | None = None,
            tt_target_idc: str | None = None) -> dict[str, Any]:
        """The creator's LIVE earnings.

        ``GET /webcast/anchors/{unique_id}/earnings``; scope ``webcast:user_earnings``.
        """
        return self.call("retrieve_webcast_user_earnings",
                         unique_id=unique_id, period=period, session_id=session_id,
                         tt_target_idc=tt_target_idc)

    aretrieve_webcast_user_earnings = awaitable(retrieve_webcast_user_earnings)

    def retrieve_live_analytics_video_list(
            self, *, count: int | None = None, offset: int | None = None) -> dict[str, Any]:
        """The creator's past LIVE sessions.

        ``GET /webcast/anchors/me/rooms``; scope ``webcast:live_analytics``.
        """
        return self.call("retrieve_live_analytics_video_list", count=count, offset=offset)

    aretrieve_live_analytics_video_list = awaitable(retrieve_live_analytics_video_list)

    def retrieve_live_analytics_video_detail(self, room_id: str) -> dict[str, Any]:
        """Analytics of one past LIVE session.

        ``GET /webcast/anchors/me/rooms/{room_id}/details``; scope ``webcast:live_analytics``.
        """
        return self.call("retrieve_live_analytics_video_detail", room_id=room_id)

    aretrieve_live_analytics_video_detail = awaitable(retrieve_live_analytics_video_detail)

    def retrieve_live_analytics_user_interactions(
            self, room_id: str, user_id: str) -> dict[str, Any]:
        """One viewer's interactions in a past LIVE session.

        ``GET /webcast/anchors/me/rooms/{room_id}/interactions``; scope ``webcast:live_analytics``.
        """
        return self.call("retrieve_live_analytics_user_interactions",
                         room_id=room_id, user_id=user_id)

    aretrieve_live_analytics_user_interactions = awaitable(
        retrieve_live_analytics_user_interactions)

    def send_room_chat(
            self, room_id: str, content: str, *, target_room_id: str | None = None,
            target_unique_id: str | None = None) -> dict[str, Any]:
        """Send a chat message as the creator.

        ``POST /webcast/rooms/{room_id}/chat``; scope ``webcast:chat``.
        """
        return self.call("send_room_chat",
                         room_id=room_id, content=content, target_room_id=target_room_id,
                         target_unique_id=target_unique_id)

    asend_room_chat = awaitable(send_room_chat)

    def mute_room_user(
            self, room_id: str, user_id: str, *, duration: int | None = None,
            comment_msg_id: str | None = None) -> dict[str, Any]:
        """Mute a viewer (duration: -1, 5, 30, 60 or 300 seconds).

        ``PUT /webcast/rooms/{room_id}/moderation/mutes``; scope ``webcast:mute``.
        """
        return self.call("mute_room_user",
                         room_id=room_id, user_id=user_id, duration=duration,
                         comment_msg_id=comment_msg_id)

    amute_room_user = awaitable(mute_room_user)

    def unmute_room_user(self, room_id: str, user_id: str) -> dict[str, Any]:
        """Unmute a viewer.

        ``DELETE /webcast/rooms/{room_id}/moderation/mutes``; scope ``webcast:mute``.
        """
        return self.call("unmute_room_user", room_id=room_id, user_id=user_id)

    aunmute_room_user = awaitable(unmute_room_user)

    def retrieve_room_muted_users(
            self, room_id: str, *, page: int | None = None) -> dict[str, Any]:
        """The room's muted viewers.

        ``GET /webcast/rooms/{room_id}/moderation/mutes``; scope ``webcast:mute``.
        """
        return self.call("retrieve_room_muted_users", room_id=room_id, page=page)

    aretrieve_room_muted_users = awaitable(retrieve_room_muted_users)

    def kick_room_user(
            self, room_id: str, tiktok_user_id: str, *,
            comment_msg_id: str | None = None) -> dict[str, Any]:
        """Ban (kick) a viewer from the room.

        ``PUT /webcast/rooms/{room_id}/moderation/bans``; scope ``webcast:ban``.
        """
        return self.call("kick_room_user",
                         room_id=room_id, tiktok_user_id=tiktok_user_id,
                         comment_msg_id=comment_msg_id)

    akick_room_user = awaitable(kick_room_user)

    def unban_room_user(self, room_id: str, tiktok_user_id: str) -> dict[str, Any]:
        """Lift a viewer's ban.

        ``DELETE /webcast/rooms/{room_id}/moderation/bans``; scope ``webcast:ban``.
        """
        return self.call("unban_room_user", room_id=room_id, tiktok_user_id=tiktok_user_id)

    aunban_room_user = awaitable(unban_room_user)

    def retrieve_room_banned_users(
            self, room_id: str, *, page: int | None = None) -> dict[str, Any]:
        """The room's banned viewers.

        ``GET /webcast/rooms/{room_id}/moderation/bans``; scope ``webcast:ban``.
        """
        return self.call("retrieve_room_banned_users", room_id=room_id, page=page)

    aretrieve_room_banned_users = awaitable(retrieve_room_banned_users)

    def toggle_room_comments(self, room_id: str, enabled: bool) -> dict[str, Any]:
        """Turn the room's comments on or off.

        ``POST /webcast/rooms/{room_id}/moderation/toggle_comments``; scope ``webcast:comments``.
        """
        return self.call("toggle_room_comments", room_id=room_id, enabled=enabled)

    atoggle_room_comments = awaitable(toggle_room_comments)

    def add_sensitive_word(
            self, room_id: str, word: str, sec_anchor_id: str) -> dict[str, Any]:
        """Add a word to the room's filter.

        ``POST /webcast/rooms/{room_id}/moderation/sensitive-words``;
        scope ``webcast:sensitive_words``.
        """
        return self.call("add_sensitive_word",
                         room_id=room_id, word=word, sec_anchor_id=sec_anchor_id)

    aadd_sensitive_word = awaitable(add_sensitive_word)

    def delete_sensitive_word(
            self, room_id: str, word_id: str, sec_anchor_id: str) -> dict[str, Any]:
        """Remove a word from the room's filter.

        ``DELETE /webcast/rooms/{room_id}/moderation/sensitive-words``;
        scope ``webcast:sensitive_words``.
        """
        return self.call("delete_sensitive_word",
                         room_id=room_id, word_id=word_id, sec_anchor_id=sec_anchor_id)

    adelete_sensitive_word = awaitable(delete_sensitive_word)

    def get_sensitive_words(self, room_id: str, sec_anchor_id: str) -> dict[str, Any]:
        """The room's filtered words.

        ``GET /webcast/rooms/{room_id}/moderation/sensitive-words``;
        scope ``webcast:sensitive_words``.
        """
        return self.call("get_sensitive_words", room_id=room_id, sec_anchor_id=sec_anchor_id)

    aget_sensitive_words = awaitable(get_sensitive_words)

    def add_room_moderator(self, numeric_id: str, to_user_id: str) -> dict[str, Any]:
        """Make a viewer a moderator.

        ``PUT /webcast/anchors/{numeric_id}/moderation/moderators``; scope ``webcast:moderators``.
        """
        return self.call("add_room_moderator", numeric_id=numeric_id, to_user_id=to_user_id)

    aadd_room_moderator = awaitable(add_room_moderator)

    def remove_room_moderator(self, numeric_id: str, to_user_id: str) -> dict[str, Any]:
        """Remove a moderator.

        ``DELETE /webcast/anchors/{numeric_id}/moderation/moderators``;
        scope ``webcast:moderators``.
        """
        return self.call("remove_room_moderator", numeric_id=numeric_id, to_user_id=to_user_id)

    aremove_room_moderator = awaitable(remove_room_moderator)

    def retrieve_room_moderators(self, numeric_id: str) -> dict[str, Any]:
        """The creator's moderators.

        ``GET /webcast/anchors/{numeric_id}/moderation/moderators``; scope ``webcast:moderators``.
        """
        return self.call("retrieve_room_moderators", numeric_id=numeric_id)

    aretrieve_room_moderators = awaitable(retrieve_room_moderators)

    def legacy_send_chat(
            self, content: str, *, room_id: str | None = None,
            target_room_id: str | None = None,
            target_unique_id: str | None = None) -> dict[str, Any]:
        """Older chat path (body as send_room_chat, plus roomId).

        ``POST /webcast/chat``; scope ``webcast:chat``.
        """
        return self.call("legacy_send_chat",
                         content=content, room_id=room_id, target_room_id=target_room_id,
                         target_unique_id=target_unique_id)

    alegacy_send_chat = awaitable(legacy_send_chat)

    def legacy_fetch(
            self, *, unique_id: str | None = None, room_id: str | None = None,
            client_query: str | None = None, cursor: str | None = None) -> dict[str, Any]:
        """Older fetch path: a room's recent events.

        ``GET /webcast/fetch``; scope ``webcast:fetch``.
        """
        return self.call("legacy_fetch",
                         unique_id=unique_id, room_id=room_id, client_query=client_query,
                         cursor=cursor)

    alegacy_fetch = awaitable(legacy_fetch)

    def legacy_user_earnings(
            self, *, unique_id: str | None = None,
            period: str | None = None) -> dict[str, Any]:
        """Older earnings path.

        ``GET /webcast/user_earnings``; scope ``webcast:user_earnings``.
        """
        return self.call("legacy_user_earnings", unique_id=unique_id, period=period)

    alegacy_user_earnings = awaitable(legacy_user_earnings)
