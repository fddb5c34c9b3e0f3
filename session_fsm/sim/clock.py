"""Server time as the simulator keeps it: whole milliseconds since the epoch.

The agents' clocks add and compare plain integers (exact, and cheap on every step); an
event or an expectation gets a datetime, which the codec writes as the wire's timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def ms_of(at: datetime) -> int:
    """``at`` (aware) as milliseconds since the epoch, sub-millisecond parts dropped."""
    return (at.astimezone(UTC) - _EPOCH) // _MS


def datetime_of(ms: int) -> datetime:
    """The UTC datetime of a server time in milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)
