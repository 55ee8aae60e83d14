"""Encryption at rest: Fernet through MultiFernet, keys newest first.

The first key of ``EULER_OAUTH_ENCRYPTION_KEYS`` encrypts; every key decrypts,
so a rotation is "put the new key first, run euler_oauth_rotate_keys, then drop
the old key".
"""

from __future__ import annotations

import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .conf import app_settings
from .errors import EncryptionKeyError

_lock = threading.Lock()
_cache: dict[tuple[str, ...], MultiFernet] = {}


def _build(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
        except (ValueError, TypeError) as err:
            # Never echo the key itself: only its position.
            raise EncryptionKeyError(
                f"EULER_OAUTH_ENCRYPTION_KEYS[{index}] is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"`)."
            ) from err
    return MultiFernet(fernets)


def get_fernet() -> MultiFernet:
    """The MultiFernet for the configured keys (cached per key list)."""
    keys = tuple(app_settings.ENCRYPTION_KEYS)
    if not keys:
        raise EncryptionKeyError(
            "EULER_OAUTH_ENCRYPTION_KEYS is empty: set it (in settings or the "
            "environment) to a list of Fernet keys, newest first."
        )
    fernet = _cache.get(keys)
    if fernet is None:
        with _lock:
            fernet = _cache.get(keys)
            if fernet is None:
                fernet = _build(keys)
                _cache.clear()  # keep one entry: keys change rarely
                _cache[keys] = fernet
    return fernet


def encrypt(plaintext: str) -> str:
    """Ciphertext (url-safe text) of ``plaintext`` with the newest key."""
    return get_fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str, what: str = "a value") -> str:
    """Plaintext of ``ciphertext``; :class:`EncryptionKeyError` naming ``what`` if no key fits."""
    try:
        return get_fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as err:
        raise EncryptionKeyError(
            f"Cannot decrypt {what} with any key in EULER_OAUTH_ENCRYPTION_KEYS: "
            "the key that encrypted it was removed or changed, or the stored value is corrupt."
        ) from err


def is_current(ciphertext: str) -> bool:
    """True when ``ciphertext`` is already encrypted with the newest key."""
    primary = Fernet(app_settings.ENCRYPTION_KEYS[0].encode())
    try:
        primary.decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def rotate(ciphertext: str, what: str = "a value") -> str:
    """``ciphertext`` re-encrypted with the newest key."""
    try:
        return get_fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as err:
        raise EncryptionKeyError(
            f"Cannot re-encrypt {what}: no key in EULER_OAUTH_ENCRYPTION_KEYS decrypts it."
        ) from err
