"""Figure 5: encryption cost per token, and its share of a token read.

Encrypt and decrypt of a realistic access token (64 url-safe characters) with
one and with two keys (during a rotation, an old-key value is tried against the
new key first), against a baseline of the same token read from a plain
(unencrypted) column; and the share of a full middleware token read (one query
plus decryption) that the decryption takes.
"""

from __future__ import annotations

import secrets
import statistics
import time

from bench.common import Row, setup_django


def per_call_us(fn, count: int, rounds: int = 7) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


def main() -> None:
    setup_django()
    from cryptography.fernet import Fernet
    from django.test.utils import override_settings

    from bench.site import make_client, make_connection, make_user_session, prepare_databases
    from django_euler_oauth import crypto
    from django_euler_oauth.models import Connection

    token = secrets.token_urlsafe(48)
    ciphertext = crypto.encrypt(token)
    encrypt_us = per_call_us(lambda: crypto.encrypt(token), 3000)
    decrypt_us = per_call_us(lambda: crypto.decrypt(ciphertext), 3000)

    old_key = crypto.app_settings.ENCRYPTION_KEYS[0]
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[Fernet.generate_key().decode(), old_key]):
        rotating_us = per_call_us(lambda: crypto.decrypt(ciphertext), 3000)

    prepare_databases()
    user, _cookie = make_user_session()
    make_connection(user, make_client("https://provider.invalid"), access=token)

    def plain_read() -> None:  # the same row, the token column read without decrypting
        Connection.objects.filter(user_id=user.pk).select_related("client").values_list(
            "access_token", flat=True).first()

    def token_read() -> None:
        connection = Connection.objects.default_for(user)
        assert connection is not None and connection.access_token == token

    plain_us = per_call_us(plain_read, 1000)
    read_us = per_call_us(token_read, 1000)

    Row("5 encrypt one token", round(encrypt_us, 1), "—", None, "(reported)", None, "µs").emit()
    Row("5 decrypt one token", round(decrypt_us, 1), "—", None, "(reported)", None, "µs").emit()
    Row("5 decrypt during a key rotation (old key second)", round(rotating_us, 1),
        round(decrypt_us, 1), round(rotating_us / decrypt_us, 2), "(reported)", None,
        "µs").emit()
    share = decrypt_us / read_us
    Row("5 decryption's share of a token read", f"{share:.0%}", "—", None, "< 50%",
        share < 0.5, "", note=f"token read {read_us:.0f} µs, plain column read "
        f"{plain_us:.0f} µs").emit()


if __name__ == "__main__":
    main()
