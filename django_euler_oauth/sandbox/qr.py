"""The QR image of the authorize page (segno, the optional ``qr`` extra)."""

from __future__ import annotations

from types import ModuleType

segno: ModuleType | None
try:
    import segno
except ImportError:  # pragma: no cover - exercised only without the extra
    segno = None


def qr_data_uri(text: str) -> str | None:
    """An inline SVG data URI showing ``text`` as a QR code, or None without segno."""
    if segno is None:
        return None
    return str(segno.make(text, error="m").svg_data_uri(scale=5, border=2))


def text_code(token: str) -> str:
    """A short code to type instead of scanning, shown when no QR image can be drawn."""
    compact = "".join(ch for ch in token.upper() if ch.isalnum())[:8]
    return f"{compact[:4]}-{compact[4:8]}"
