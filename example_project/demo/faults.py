"""Faults injected into the sandbox (latency, failures, rate limits) in words.

They live in the sandbox's database, so they survive a restart of the site:
run.py says so at start-up and every page shows a banner (context processor).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def active_faults() -> list[str]:
    """One sentence per fault still in effect; empty without the sandbox."""
    if not getattr(settings, "SANDBOX", False):
        return []
    from django_euler_oauth.sandbox.models import Fault

    now = timezone.now()
    sentences: list[str] = []
    for fault in Fault.objects.order_by("endpoint"):
        where = "every endpoint" if fault.endpoint in ("*", "") else f"“{fault.endpoint}”"
        if fault.latency_ms:
            sentences.append(f"{where} answers {fault.latency_ms} ms late")
        if fault.fail_next:
            sentences.append(f"{where} fails the next {fault.fail_next} request(s) with "
                             f"HTTP {fault.fail_status}")
        if fault.error_next and fault.error_code:
            sentences.append(f"{where} answers “{fault.error_code}” to the next "
                             f"{fault.error_next} request(s)")
        if fault.rate_limited_until and fault.rate_limited_until > now:
            seconds = int((fault.rate_limited_until - now).total_seconds())
            sentences.append(f"{where} is rate-limited for {seconds} more s")
    return sentences


def sandbox_faults(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``sandbox_faults`` (the sentences above), ``sandbox_enabled``."""
    enabled = bool(getattr(settings, "SANDBOX", False))
    try:
        faults = active_faults()
    except Exception:  # a banner must never break a page (e.g. before migrate)
        faults = []
    return {"sandbox_faults": faults, "sandbox_enabled": enabled}
