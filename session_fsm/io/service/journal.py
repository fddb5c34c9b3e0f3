"""The service's write-ahead journal: every input it takes is on disk before it is applied.

Theory of operation. The service takes two kinds of input: an answer from the platform
(get-next-event never sends those events again) and a body pushed to
``POST /api/events`` (acknowledged with 200). Either must survive a crash from the moment
it is taken: a SIGKILL, the out-of-memory killer, a power cut. So each is appended here
as one :class:`Entry` and the file is fsync'd *before* the input is applied or the push
acknowledged; entries taken together share one fsync (group commit). A restart reads the
saved state (``service-state.json``, which names the last entry it includes), then
applies every later entry in order, exactly as it was applied live. The engine is
deterministic, so the same changes come out under the same ids: nothing acknowledged is
lost, nothing is applied twice, and no change id is issued again with other content.
After a checkpoint covers them all, the entries are cleared.

The file is a run of frames, each ``MAGIC``, the payload's length and its CRC-32
(little-endian), then the payload: the entry's header as one JSON line, then its body as
it came. A crash mid-append leaves a torn last frame, never fsync'd, so never applied nor
acknowledged: it is cut off, with a warning. A bad frame with whole frames after it is
not a torn write but damage, and the service refuses to start rather than skip inputs.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Final

import attrs
import orjson

from ...errors import JournalError

__all__ = ["JOURNAL_FILE", "Entry", "Journal"]

log = logging.getLogger("session_fsm.io.service")

JOURNAL_FILE: Final = "service-journal"
MAGIC: Final = b"SFJ1"
_FRAME: Final = struct.Struct("<4sII")  # magic, payload length, CRC-32 of the payload


@attrs.frozen(slots=True)
class Entry:
    """One taken input: ``seq`` (its place in the service's one order), what kind of input
    it is and where it goes (``header``, JSON), and the bytes that came (``body``)."""

    seq: int
    header: dict[str, Any]
    body: bytes

    def frame(self) -> bytes:
        payload = orjson.dumps({"seq": self.seq, **self.header}) + b"\n" + self.body
        return _FRAME.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


class Journal:
    """The journal file in a state directory (see the module doc)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL_FILE
        self.size = 0
        """Bytes in the file: a checkpoint is due when it grows large."""
        self._file: BinaryIO | None = None

    def recover(self) -> list[Entry]:
        """Every whole entry in the file, in order; a torn last frame is cut off. Damage
        before the end raises :class:`~session_fsm.errors.JournalError`."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as error:
            raise JournalError(str(self.path), 0, f"cannot be read: {error.strerror}") from None
        entries: list[Entry] = []
        offset = 0
        while offset < len(data):
            found = _read_frame(data, offset)
            if found is None:
                if _whole_frame_after(data, offset + 1):
                    raise JournalError(str(self.path), offset,
                                       "a damaged frame with whole frames after it")
                log.warning("journal %s: cut off a torn last frame at byte %d (%d bytes: an "
                            "input whose write a crash interrupted, never applied nor "
                            "acknowledged)", self.path, offset, len(data) - offset)
                self._truncate(offset)
                break
            payload, end = found
            entries.append(_entry(payload, str(self.path), offset))
            offset = end
        self.size = offset
        return entries

    def append(self, entries: list[Entry]) -> None:
        """Write ``entries`` and fsync: when this returns, they survive a crash. Blocking:
        the service calls it in a worker thread."""
        if self._file is None:
            self._file = self.path.open("ab")
            _sync_directory(self.path.parent)  # the file's own name must survive too
        data = b"".join(entry.frame() for entry in entries)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.size += len(data)

    def clear(self) -> None:
        """Empty the file, once a saved state includes every entry in it."""
        self._truncate(0)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _truncate(self, size: int) -> None:
        try:
            with self.path.open("r+b") as handle:
                handle.truncate(size)
                os.fsync(handle.fileno())
        except FileNotFoundError:  # nothing was ever journaled here
            pass
        self.size = size


def _read_frame(data: bytes, offset: int) -> tuple[bytes, int] | None:
    """The payload of the whole frame at ``offset`` and where the next begins, or None."""
    if len(data) - offset < _FRAME.size:
        return None
    magic, length, crc = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    payload = data[start:start + length]
    if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return payload, start + length


def _whole_frame_after(data: bytes, offset: int) -> bool:
    at = data.find(MAGIC, offset)
    while at != -1:
        if _read_frame(data, at) is not None:
            return True
        at = data.find(MAGIC, at + 1)
    return False


def _entry(payload: bytes, path: str, offset: int) -> Entry:
    head, _, body = payload.partition(b"\n")
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or type(header.get("seq")) is not int:
        raise JournalError(path, offset, "a frame whose header is not an entry's")
    seq = header.pop("seq")
    return Entry(seq, header, body)


def _sync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
