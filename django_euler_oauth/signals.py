"""Signals sent by django-euler-oauth. Each is sent once per event, after commit.

Connect receivers in your ``AppConfig.ready()``; every signal is sent with
``sender=Connection`` (the model class) and the keyword arguments listed.
"""

from django.dispatch import Signal

#: A user connected (or reconnected) an account: the callback stored new tokens.
#: Arguments: ``connection``, ``request``, ``created`` (False on a reconnect).
connected = Signal()

#: "Sign in with TikTok" made a new user for an unknown TikTok account (once per user).
#: Arguments: ``user``, ``connection``, ``request``.
signed_up = Signal()

#: A refresh stored new tokens. Arguments: ``connection``.
token_refreshed = Signal()

#: A refresh failed without killing the grant (timeout, 5xx, 429, bad answer);
#: nothing stored changed. Arguments: ``connection``, ``error``.
refresh_failed = Signal()

#: The grant is dead (``invalid_grant``, ``expired_token``, ``revoked_token``,
#: ``invalid_token``, ``session_expired``, or the refresh token outlived its 30
#: days): the connection moved to ``reauthorization_required``. Sent once per
#: transition. Arguments: ``connection``, ``reason`` (an error code), ``error``
#: (the exception, or None when found without asking the provider).
reauthorization_required = Signal()

#: A connection was disconnected (by the user, an admin, or a deleted user) and
#: its tokens revoked at the provider as far as possible. Arguments:
#: ``connection``, ``revoked_remotely`` (False when the provider could not be
#: reached), ``request`` (None outside a request).
disconnected = Signal()

#: A delegation was granted (an invitation accepted, the admin, :func:`teams.grant`).
#: Sent with ``sender=Delegation``. Arguments: ``delegation``.
delegation_granted = Signal()

#: A delegation ended (revoked by the owner or staff, or its connection was
#: disconnected or revoked). Sent with ``sender=Delegation``. Arguments: ``delegation``.
delegation_revoked = Signal()

#: A LIVE event arrived from a room the site listens to (``django_euler_oauth.live``: the
#: relay, ``manage.py euler_oauth_live``). Sent with ``sender=Connection`` by the relay's
#: delivery threads, never on its sockets' loop: a slow or failing receiver stalls no room.
#: Arguments: ``connection`` (the listened-to connection, its pk and owner loaded),
#: ``event`` (a :class:`django_euler_oauth.live.LiveEvent`).
live_event = Signal()
