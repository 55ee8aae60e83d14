"""What the management commands accept: anything else is a CommandError saying so.

``call_command()`` hands keyword options to ``handle()`` as they are (argparse's
``type=int`` only sees the command line), so every command checks its options
here, whatever their type. The bounds keep each value inside what the code under
it can use: a window past ``datetime``'s range, a thread per "worker" by the
million, a ``LIMIT`` or a key beyond a 64-bit integer all crashed with a traceback.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_slug

#: ``--within``: tokens live hours, refresh tokens 30 days; a year covers any real window.
MAX_WITHIN = datetime.timedelta(days=366)
#: ``--workers``: each is a thread holding its own database connection.
MAX_WORKERS = 64
#: ``--chunk-size`` / ``--batch-size``: keys (or rows) per query, rows per transaction.
MAX_CHUNK_SIZE = 10_000
#: ``--start-after``: a primary key (a 64-bit integer column).
MAX_PK = 2**63 - 1
MAX_SLUG_LENGTH = 50  # OAuthClient.slug (SlugField)
MAX_URL_LENGTH = 2048


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:40] + "…"


def whole_number(value: Any, option: str, *, minimum: int, maximum: int,
                 unit: str = "") -> int:
    """``value`` (an int, or its text) as an int from ``minimum`` to ``maximum``."""
    number: int | None = None
    if isinstance(value, bool):
        number = None  # True is not a count
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None or not minimum <= number <= maximum:
        raise CommandError(f"{option} must be a whole number from {minimum} to {maximum}"
                           f"{unit}; got {_shown(value)}.")
    return number


def window(value: Any) -> datetime.timedelta:
    """``--within`` SECONDS as a timedelta."""
    limit = int(MAX_WITHIN.total_seconds())
    seconds = whole_number(value, "--within", minimum=0, maximum=limit,
                           unit=f" (seconds; {MAX_WITHIN.days} days)")
    return datetime.timedelta(seconds=seconds)


def workers(value: Any) -> int:
    return whole_number(value, "--workers", minimum=1, maximum=MAX_WORKERS)


def chunk_size(value: Any, option: str = "--chunk-size") -> int:
    return whole_number(value, option, minimum=1, maximum=MAX_CHUNK_SIZE)


def primary_key(value: Any, option: str) -> int:
    return whole_number(value, option, minimum=0, maximum=MAX_PK)


def slugs(values: Iterable[Any]) -> list[str]:
    """Client slugs as typed: each a slug (letters, digits, - and _), as the model takes."""
    checked = []
    for value in [values] if isinstance(values, str) else values:
        text = value if isinstance(value, str) else ""
        try:
            validate_slug(text)
        except ValidationError:
            text = ""
        if not text or len(text) > MAX_SLUG_LENGTH:
            raise CommandError(f"Not a client slug: {_shown(value)!s} (letters, digits, "
                               f"hyphens and underscores, up to {MAX_SLUG_LENGTH}).")
        checked.append(text)
    return checked


def absolute_url(value: Any, option: str) -> str:
    """An absolute http(s) URL (any host name: an intranet's single label too)."""
    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname)
              and (parts.port is None or parts.port > 0))  # .port checks the number
    except ValueError:
        ok = False
    if not ok or not text.isprintable() or " " in text or len(text) > MAX_URL_LENGTH:
        raise CommandError(f"{option} must be an absolute http(s) URL; got "
                           f"{_shown(value)}.")
    return text
