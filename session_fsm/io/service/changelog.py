"""The service's change log: the last N changes' lines by id, packed as bytes.

Every change the service publishes gets the next id and is kept here as the line
``changes --json`` prints for it, so an event-stream client that reconnects gets exactly
what it missed. Ids are consecutive, so an id is an index and needs no search.

Why packed: a service keeps 100,000 changes by default, and a Python object per change
(a tuple, an int, a bytes object) costs about three times the line itself and gives the
cyclic collector that much more to walk. Lines are gathered in blocks of
:data:`BLOCK_LINES`; a full block becomes one ``bytes`` object and an ``array`` of end
offsets, so a kept change costs its line plus four bytes. Old changes go a whole block
at a time; the ids the log *says* it keeps are exactly the last ``keep`` (a client
asking for one just out of that window is told it is gone, whatever is still in memory).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator
from typing import Final

__all__ = ["BLOCK_LINES", "ChangeLog"]

BLOCK_LINES: Final = 1024
"""Lines per packed block: few enough that a block dropped at a time is small, many
enough that the per-block objects do not count."""


class _Block:
    """Up to :data:`BLOCK_LINES` consecutive lines, packed: ``data`` and its end offsets."""

    __slots__ = ("data", "ends", "first_id")

    def __init__(self, first_id: int, lines: list[bytes]) -> None:
        self.first_id = first_id
        self.data = b"".join(lines)
        self.ends = array("I")
        end = 0
        for line in lines:
            end += len(line)
            self.ends.append(end)

    def __len__(self) -> int:
        return len(self.ends)

    def line(self, index: int) -> bytes:
        start = self.ends[index - 1] if index else 0
        return self.data[start:self.ends[index]]


class ChangeLog:
    """The last ``keep`` change lines, by consecutive id (see the module doc)."""

    def __init__(self, keep: int, next_id: int) -> None:
        if keep < 1:
            raise ValueError(f"keep must be positive, got {keep}")
        if next_id < 1:
            raise ValueError(f"ids start at 1 or later, got {next_id}")
        self.keep = keep
        self.next_id = next_id
        """The id the next appended line gets."""
        self._blocks: deque[_Block] = deque()
        self._open: list[bytes] = []
        """Lines of the block being filled; the first has id :attr:`_open_first`."""
        self._open_first = next_id

    def append(self, line: bytes) -> int:
        """Keep ``line`` under the next id; that id."""
        opened = self._open
        opened.append(line)
        change_id = self.next_id
        self.next_id = change_id + 1
        if len(opened) == BLOCK_LINES:
            self._blocks.append(_Block(self._open_first, opened))
            self._open = []
            self._open_first = self.next_id
            # drop whole blocks that lie entirely before the kept window
            while self._blocks and self._blocks[0].first_id + BLOCK_LINES <= self.first_id:
                self._blocks.popleft()
        return change_id

    @property
    def last_id(self) -> int:
        """The newest id (one less than the first id when nothing was ever appended)."""
        return self.next_id - 1

    @property
    def first_id(self) -> int:
        """The oldest id kept (:attr:`next_id` when none is)."""
        held = self._blocks[0].first_id if self._blocks else self._open_first
        return max(held, self.next_id - self.keep)

    def __len__(self) -> int:
        return self.next_id - self.first_id

    def lines(self, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """``(id, line)`` for the kept ids in ``start .. stop - 1``, in order."""
        change_id = max(start, self.first_id)
        stop = min(stop, self.next_id)
        blocks = self._blocks
        # blocks are consecutive and full, so the block of an id is an index too
        base = blocks[0].first_id if blocks else self._open_first
        while change_id < stop:
            if change_id >= self._open_first:
                yield change_id, self._open[change_id - self._open_first]
            else:
                block = blocks[(change_id - base) // BLOCK_LINES]
                yield change_id, block.line(change_id - block.first_id)
            change_id += 1

    def kept_lines(self) -> list[bytes]:
        """Every kept line, oldest first (for the saved state)."""
        return [line for _, line in self.lines(self.first_id, self.next_id)]
