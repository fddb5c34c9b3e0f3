"""How a duration is written for people, in every command and page: ``25s``, ``5m 12s``,
``1h 02m 05s``, a fraction only when the value has one (``1m 00.4s``). One format, so a
figure reads the same in ``history``, ``demo``, ``report`` and the report's page."""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float | None) -> str:
    """``25.0`` -> ``25s``, ``312.0`` -> ``5m 12s``, ``3725.5`` -> ``1h 02m 05.5s``;
    None -> ``-``."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    fraction = seconds - whole
    tail = f"{fraction:.3f}".rstrip("0").rstrip(".")[1:] if fraction else ""
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}{tail}s"
    if minutes:
        return f"{minutes}m {secs:02d}{tail}s"
    return f"{secs}{tail}s"
