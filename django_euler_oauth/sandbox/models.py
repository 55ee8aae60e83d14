"""The sandbox provider's state: clients, fake TikTok accounts, grants, tokens, faults,
and each account's small fake LIVE room (whether it is LIVE, events, mutes, bans, words,
moderators).

Everything lives in the database (the ``euler_sandbox`` alias when configured,
see :mod:`.routers`), so several web workers, a test process and a live server
all see one provider. Codes and tokens are stored as SHA-256 hashes: the
sandbox never needs them back, and a stray dump of its tables reveals nothing.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

DEFAULT_ACCESS_LIFETIME = 3600  # documented: 1 hour
DEFAULT_REFRESH_LIFETIME = 30 * 24 * 3600  # documented: 30 days
DEFAULT_CODE_LIFETIME = 600  # documented: ~10 minutes
DEFAULT_QR_LIFETIME = 120
DEFAULT_MAX_WEB_SOCKETS = 25  # Euler's Community plan


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


class SandboxClient(models.Model):
    """An OAuth client registered at the fake provider, with its live-service variants."""

    class ResponseStyle(models.TextChoices):
        FLAT = "flat", "Flat JSON (documented)"
        ENVELOPE = "envelope", "{code, message, data, error} envelope (live)"

    class TokenTransport(models.TextChoices):
        BEARER = "bearer", "Authorization: Bearer (documented)"
        X_OAUTH_TOKEN = "x-oauth-token", "x-oauth-token + x-api-key (live)"
        ANY = "any", "Either"

    client_id = models.CharField(max_length=100, unique=True)
    client_secret = models.CharField(max_length=200)  # a fake provider compares it
    name = models.CharField(max_length=200, default="Sandbox app")
    redirect_uris = models.TextField(blank=True, help_text="One per line; exact match.")
    response_style = models.CharField(max_length=10, choices=ResponseStyle.choices,
                                      default=ResponseStyle.FLAT)
    token_transport = models.CharField(max_length=20, choices=TokenTransport.choices,
                                       default=TokenTransport.ANY)
    api_key = models.CharField(max_length=200, blank=True,
                               help_text="Expected x-api-key with x-oauth-token (blank: any).")
    require_pkce = models.BooleanField(default=False)
    access_lifetime = models.PositiveIntegerField(default=DEFAULT_ACCESS_LIFETIME)
    refresh_lifetime = models.PositiveIntegerField(default=DEFAULT_REFRESH_LIFETIME)
    code_lifetime = models.PositiveIntegerField(default=DEFAULT_CODE_LIFETIME)
    qr_lifetime = models.PositiveIntegerField(default=DEFAULT_QR_LIFETIME)
    account_id = models.CharField(
        max_length=20, blank=True,
        help_text="The Euler account id the API key belongs to (accounts/<id>/jwt/create); "
                  "blank: one derived from the client id.")
    max_web_sockets = models.PositiveIntegerField(
        default=DEFAULT_MAX_WEB_SOCKETS,
        help_text="LIVE WebSockets open at once with this API key and its JWTs "
                  "(one more is closed with 4429).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("client_id",)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def __repr__(self) -> str:
        return f"<SandboxClient client_id={self.client_id!r}>"

    @property
    def redirect_uri_list(self) -> list[str]:
        return [line.strip() for line in self.redirect_uris.splitlines() if line.strip()]

    def secret_matches(self, candidate: str) -> bool:
        return secrets.compare_digest(self.client_secret.encode(), candidate.encode())

    @property
    def enveloped(self) -> bool:
        return self.response_style == self.ResponseStyle.ENVELOPE

    @property
    def euler_account_id(self) -> str:
        """The account id ``jwt/create`` accepts for this client's API key: the field, or a
        number derived from the client id when it is blank (stable across processes)."""
        if self.account_id:
            return self.account_id
        digest = hashlib.sha256(f"account:{self.client_id}".encode()).digest()
        return str(100_000 + int.from_bytes(digest[:4], "big") % 900_000)


def find_client(client_id: object) -> SandboxClient | None:
    """The client ``client_id`` names; None for any other value (PostgreSQL refuses a NUL
    in a query, and no registered id is longer than the column)."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 100 or "\x00" in client_id:
        return None
    return SandboxClient.objects.filter(client_id=client_id).first()


class FakeAccount(models.Model):
    """A TikTok account that can "scan" the QR code."""

    uid = models.CharField(max_length=40, unique=True)
    sec_uid = models.CharField(max_length=100)
    unique_id = models.CharField(max_length=60, unique=True)
    nickname = models.CharField(max_length=100)
    region = models.CharField(max_length=8, default="US")
    avatar_url = models.URLField(blank=True)
    room_id = models.CharField(max_length=40, blank=True)
    has_live_permission = models.BooleanField(default=True)
    is_private = models.BooleanField(default=False)

    class Meta:
        ordering = ("unique_id",)

    def __str__(self) -> str:
        return f"@{self.unique_id}"

    def as_userinfo(self, avatar_url: str = "") -> dict[str, object]:
        """The userinfo ``user`` object; ``avatar_url`` stands in when none is set."""
        return {
            "uid": self.uid, "secUid": self.sec_uid, "nickName": self.nickname,
            "uniqueId": self.unique_id, "region": self.region,
            "avatarUrl": self.avatar_url or avatar_url,
            "roomId": self.room_id, "hasLivePermission": self.has_live_permission,
            "isPrivateAccount": self.is_private,
        }


class AuthorizationRequest(models.Model):
    """One visit to the authorize page, from introduction to code (or cancel)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed on the phone"
        COMPLETED = "completed", "Code issued"
        CANCELLED = "cancelled", "Cancelled"

    public_id = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    redirect_uri = models.URLField(max_length=500)
    scope = models.CharField(max_length=1000)
    state = models.CharField(max_length=2048, blank=True)
    code_challenge = models.CharField(max_length=128, blank=True)
    qr_token = models.CharField(max_length=64)
    qr_expires_at = models.DateTimeField()
    account = models.ForeignKey(FakeAccount, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"authorization {self.pk} for {self.client_id} ({self.status})"

    @property
    def scope_list(self) -> list[str]:
        return self.scope.split()


class AuthorizationCode(models.Model):
    code_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    account = models.ForeignKey(FakeAccount, on_delete=models.CASCADE)
    redirect_uri = models.URLField(max_length=500)
    scope = models.CharField(max_length=1000)
    code_challenge = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code {self.pk} ({'used' if self.used_at else 'unused'})"


class Grant(models.Model):
    """What one authorization produced: the scopes, the TikTok session, the refresh expiry."""

    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE, related_name="grants")
    account = models.ForeignKey(FakeAccount, on_delete=models.CASCADE, related_name="grants")
    scope = models.CharField(max_length=1000)
    refresh_expires_at = models.DateTimeField()
    session_alive = models.BooleanField(default=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"grant {self.pk} ({self.scope})"

    @property
    def scope_list(self) -> list[str]:
        return self.scope.split()


class AccessToken(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="access_tokens")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:  # never the token itself
        return f"access token {self.pk} of grant {self.grant_id}"


class RefreshToken(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")
    used_at = models.DateTimeField(null=True, blank=True)  # rotated away
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:  # never the token itself
        return f"refresh token {self.pk} of grant {self.grant_id}"


class CallCounter(models.Model):
    """Requests received per endpoint (incremented with F(), exact across processes)."""

    endpoint = models.CharField(max_length=60, unique=True)
    count = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.count}"


class Fault(models.Model):
    """Trouble injected into one endpoint, or into all of them (endpoint ``*``)."""

    endpoint = models.CharField(max_length=60, unique=True)
    latency_ms = models.PositiveIntegerField(default=0)
    fail_next = models.PositiveIntegerField(default=0)
    fail_status = models.PositiveSmallIntegerField(default=500)
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    # A documented error code (``token_expired``, ...) answered to the next ``error_next``
    # requests, whatever their token.
    error_code = models.CharField(max_length=40, blank=True)
    error_next = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"fault on {self.endpoint}"


# -- fake LIVE rooms --------------------------------------------------------------------

class Room(models.Model):
    """The LIVE room of one fake account; the moderation endpoints and the LIVE controls
    (``go_live``, ``end_live``) change it."""

    account = models.OneToOneField(FakeAccount, on_delete=models.CASCADE, related_name="room")
    room_id = models.CharField(max_length=40, unique=True)
    comments_enabled = models.BooleanField(default=True)
    # None until go_live/end_live first sets it: the room is then LIVE when its account has
    # LIVE permission (what the sandbox always answered before rooms could end).
    is_live = models.BooleanField(null=True, default=None)
    live_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"room {self.room_id} of {self.account}"


class RoomEvent(models.Model):
    """Something that happened in a room (a chat message sent through the API, ...)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)  # chat, comments_on, comments_off
    user_id = models.CharField(max_length=40)
    nickname = models.CharField(max_length=100, blank=True)
    content = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.kind} event {self.pk} in room {self.room_id}"


class RoomMember(models.Model):
    """A viewer with a role in a room: muted, banned or moderator (one row per role)."""

    class Role(models.TextChoices):
        MUTED = "muted", "Muted"
        BANNED = "banned", "Banned"
        MODERATOR = "moderator", "Moderator"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=10, choices=Role.choices)
    user_id = models.CharField(max_length=40)
    duration = models.IntegerField(default=0)  # mutes: seconds, -1 = for the whole LIVE
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("room", "role", "user_id"),
                                               name="euler_sandbox_one_role_per_user")]

    def __str__(self) -> str:
        return f"{self.role} {self.user_id} in room {self.room_id}"


class SensitiveWord(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="words")
    word = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("room", "word"),
                                               name="euler_sandbox_word_once_per_room")]

    def __str__(self) -> str:
        return f"word {self.pk} in room {self.room_id}"
