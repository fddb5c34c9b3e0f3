"""Reading input files into wire events: every input shape of the contract, streamed.

This module's one concern is turning a path (plain, gzip, or ``-`` for standard input)
into ``(session key, event, source)`` items in input order, with every input error
located at its file and line. It knows nothing of what the events mean.

Shapes, detected per line or per document (the README, "Using it", says them to users):

- an event object (an object with a ``Type`` or ``type`` key);
- an array of events;
- a get-next-event response ``{"sessionId": ..., "events": [...]}`` (``events`` and no
  ``session``), or an array of responses;
- a keyed envelope ``{"session": KEY, "events": [...]}`` or ``{"session": KEY, "event": {...}}``;
  its events belong to session ``KEY``. Every other event belongs to one session per file,
  keyed by the path as given (``-`` for standard input).

An object with ``session`` is an envelope (``events`` read before ``event``), else one with
``events`` a response, else one with ``Type``/``type`` an event; anything else is an error.

Gzip is detected by the magic bytes, not by the suffix, so ``.gz`` files, compressed
standard input and misnamed files all work.

Memory and formats: input is read line by line in binary mode and each line is parsed on
its own (JSON Lines), so memory stays constant however long the file is; a line longer
than ``max_line_bytes`` is reported without being read whole and ends its file, whose
end may never come (``/dev/zero``): at most ``max_line_bytes + 1`` bytes are read past
the last line that fit. Only when the first non-blank line is not valid JSON and starts
with ``{`` or ``[`` is the input taken as one (pretty-printed) document; then memory is
proportional to that document, which is capped at ``max_line_bytes`` too. If the
document does not parse either, and its error is on that first line or the next
non-blank line parses on its own, the input is JSON Lines whose first line is bad: that
line is reported and reading goes on with the next one. Otherwise the document's error
is reported at its own line and the file ends there.

Sources: ``Source(path as given, 1-based line)``. In JSON Lines every event of a line has
that line. In a multi-line document each event has the line where its own value starts
(found by a second, cheap walk over the document's text); were that walk ever to fail,
the events fall back to the document's first line rather than failing.

Errors: :class:`NotJsonError`, :class:`NotAnEventError`, :class:`FieldError` (from the codec)
and :class:`InputTooLargeError` (an over-long line or document, or nesting deeper than
the parser's 1024 levels), each with ``source`` set. With ``on_error="raise"`` the first one
is raised; with ``"report"`` it is yielded as a :class:`ReadError` and reading continues
with the next event (of the same line's array, when it was one event of many) or line;
after an over-long line, with the next file.
A file that cannot be opened raises :class:`OSError` in both modes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import chain
from typing import IO, Any, Final, Literal, TypeAlias, cast, overload

import attrs
import orjson

from ..errors import (
    InputError,
    InputTooLargeError,
    NotAnEventError,
    NotJsonError,
    OnError,
    Source,
)
from .codec import decode, kind_of
from .events import Event

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "OnError",
    "ReadError",
    "ReadItem",
    "TakeLines",
    "WireItem",
    "iter_wire",
    "read",
    "read_one",
    "wire_bytes",
]

DEFAULT_MAX_LINE_BYTES: Final = 16 * 1024 * 1024
"""The longest line (or document) read by default: far above any real batch of events."""


WireItem: TypeAlias = tuple[str, dict[str, Any], Source]
"""``(session key, wire event object, source)``: an object with a ``Type``/``type`` key."""

TakeLines: TypeAlias = Callable[[bytes, str, int, int, bool], tuple[int, int]]
"""``take_lines(data, path, first line number, max_line_bytes, last)``: a consumer that
applies the events of JSON Lines lines itself (the native core,
:meth:`SessionEngine.line_taker`), from the start of ``data`` up to the first line it
leaves to the reader; returns (bytes taken, lines taken). It takes no line longer than
``max_line_bytes``, and a last line without a newline only when ``last``; whatever it
leaves, the reader reads as always."""

_CHUNK: Final = 1 << 20
"""How much is read at once when the lines go to a ``take_lines`` consumer."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"
_DEPTH_MESSAGE: Final = "depth limit exceeded"  # orjson's message past 1024 levels


@attrs.frozen(slots=True)
class ReadItem:
    """One decoded event and where it came from."""

    key: str
    event: Event
    source: Source


@attrs.frozen(slots=True)
class ReadError:
    """An input error met in ``on_error="report"`` mode; ``error.source`` is ``source``."""

    key: str
    error: InputError
    source: Source


# --- public API ------------------------------------------------------------------------


Paths: TypeAlias = "Iterable[str | os.PathLike[str]] | str | os.PathLike[str]"
"""One path, or several: files, ``.gz`` files, ``-`` for standard input."""


@overload
def read(paths: Paths, *, on_error: Literal["raise"] = "raise",
         max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[ReadItem]: ...


@overload
def read(paths: Paths, *, on_error: Literal["report"],
         max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[ReadItem | ReadError]: ...


def read(
    paths: Paths,
    *,
    on_error: OnError = "raise",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[ReadItem | ReadError]:
    """Every event of ``paths`` (files, ``.gz`` files, ``-``), decoded, in input order.

    Built on :func:`iter_wire`, so both share one parsing path; the codec's errors are
    located here. ``ReadError`` items appear only with ``on_error="report"`` (then the
    items are ``ReadItem | ReadError``; by default, every item is a :class:`ReadItem` and
    the first error raises). Files are opened one after the other, as the iteration
    reaches them. Feeding an engine, a line being one response (batch)::

        for item in read("recording.jsonl"):
            engine.feed(item.event, key=item.key, source=item.source, batch=item.source)
    """
    wire = iter_wire(paths, on_error=on_error, max_line_bytes=max_line_bytes)
    return _decoded(wire, on_error == "raise")


@overload
def read_one(path: str | os.PathLike[str], *, on_error: Literal["raise"] = "raise",
             max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[ReadItem]: ...


@overload
def read_one(path: str | os.PathLike[str], *, on_error: Literal["report"],
             max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[ReadItem | ReadError]: ...


def read_one(
    path: str | os.PathLike[str],
    *,
    on_error: OnError = "raise",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[ReadItem | ReadError]:
    """:func:`read` for a single path."""
    return read((path,), on_error=on_error, max_line_bytes=max_line_bytes)


def wire_bytes(
    data: bytes,
    name: str,
    *,
    on_error: OnError = "raise",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    take_lines: TakeLines | None = None,
) -> Iterator[WireItem | ReadError]:
    """:func:`iter_wire` for input already in memory (a request body): ``name`` stands
    for the path in sources and is the session key of events without an envelope. The
    data is read as it is (no gzip: what comes from a peer is read within its own size,
    never decompressed into an unknown one)."""
    if on_error not in ("raise", "report"):
        raise ValueError(f'on_error must be "raise" or "report", got {on_error!r}')
    with io.BytesIO(data) as stream:
        yield from _file_items(stream, name, on_error == "raise", max_line_bytes, take_lines)


def iter_wire(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    on_error: OnError = "raise",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    take_lines: TakeLines | None = None,
) -> Iterator[WireItem | ReadError]:
    """Every wire event object of ``paths``, undecoded, as ``(key, dict, source)``.

    Checks the shape only (an event is an object with a ``Type`` or ``type`` key);
    the fields are the codec's business.

    ``take_lines`` is offered the lines of JSON Lines input after the first (the first
    decides between lines and a document), a chunk at a time, before they are parsed
    here; the events of the lines it takes are not yielded. Limits, gzip and every error
    stay the reader's.
    """
    # Checked here, not at the first next(), so a wrong call fails where it is made.
    if on_error not in ("raise", "report"):
        raise ValueError(f'on_error must be "raise" or "report", got {on_error!r}')
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
    # A bare path is one path, not an iterable of one-character paths.
    if isinstance(paths, str | os.PathLike):
        paths = (paths,)
    return _wire(paths, on_error == "raise", max_line_bytes, take_lines)


def _decoded(wire: Iterator[WireItem | ReadError], raising: bool) -> Iterator[ReadItem | ReadError]:
    for item in wire:
        if type(item) is ReadError:
            yield item
            continue
        key, obj, source = cast(WireItem, item)
        try:
            event = decode(obj)
        except InputError as exc:
            exc.located(source)
            if raising:
                raise
            yield ReadError(key, exc, source)
            continue
        yield ReadItem(key, event, source)


def _wire(
    paths: Iterable[str | os.PathLike[str]], raising: bool, limit: int,
    take_lines: TakeLines | None = None,
) -> Iterator[WireItem | ReadError]:
    for path in paths:
        name = os.fspath(path)
        with _open(name) as stream:
            yield from _file_items(stream, name, raising, limit, take_lines)


# --- one file --------------------------------------------------------------------------


@contextlib.contextmanager
def _open(name: str) -> Iterator[IO[bytes]]:
    """The decompressed byte stream of a path or ``-``; gzip recognised by its magic bytes."""
    with contextlib.ExitStack() as stack:
        # Standard input belongs to the process, not to this reader: never closed here.
        stream = sys.stdin.buffer if name == "-" else stack.enter_context(open(name, "rb"))
        if not hasattr(stream, "peek"):
            # Peeking is how gzip is recognised without consuming the bytes; a stream
            # that cannot peek (a BytesIO behind a replaced sys.stdin) gets a buffer.
            stream = cast(IO[bytes], io.BufferedReader(cast(Any, stream)))
        if cast(io.BufferedReader, stream).peek(2)[:2] == _GZIP_MAGIC:
            gzipped = gzip.GzipFile(fileobj=stream, mode="rb")
            stream = cast(IO[bytes], stack.enter_context(gzipped))
        yield stream


def _file_items(
    stream: IO[bytes], name: str, raising: bool, limit: int,
    take_lines: TakeLines | None = None,
) -> Iterator[WireItem | ReadError]:
    """The items of one input, JSON Lines or one document (see the module docstring)."""
    # limit + 1 bytes is enough to tell "a line of exactly limit bytes plus its newline"
    # from "too long" without ever holding more than that.
    lines: Iterator[bytes] = iter(partial(stream.readline, limit + 1), b"")
    n = 0  # 1-based number of the line just read
    try:
        # The first non-blank line decides between JSON Lines and one document.
        for line in lines:
            n += 1
            if len(line) > limit and line[-1] != 0x0A:
                yield _fail(_too_long(limit), name, Source(name, n), raising)
                return
            if line.isspace():
                continue
            line = line.removeprefix(_BOM)
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if line.lstrip()[:1] in (b"{", b"[") and exc.msg != _DEPTH_MESSAGE:
                    # The only non-streaming path: maybe a pretty-printed document.
                    try:
                        document, buffered = _try_document(line, lines, limit)
                    except _DocumentError as broken:
                        at = Source(name, n + broken.line_offset)
                        yield _fail(broken.error, name, at, raising)
                        return
                    if document is not None:
                        yield from _checked(document.items(name, n), raising)
                        return
                    # JSON Lines after all, with a bad first line: the lines read ahead
                    # go first (a too-long one can only be the last of them, and the
                    # stream still stands in its middle, as the loop below expects).
                    lines = chain(buffered, lines)
                    take_lines = None  # the lines read ahead are this loop's
                yield _fail(_not_json(exc), name, Source(name, n), raising)
            else:
                yield from _checked(_value_items(obj, name, Source(name, n), None), raising)
            break
        # JSON Lines: one parse per line, constant memory.
        if take_lines is not None:
            yield from _taken_lines(stream, name, n, raising, limit, take_lines)
            return
        for line in lines:
            n += 1
            if len(line) > limit and line[-1] != 0x0A:
                yield _fail(_too_long(limit), name, Source(name, n), raising)
                return
            yield from _line_items(line, name, n, raising)
    except _DAMAGED as exc:
        yield _fail(_damaged(exc), name, Source(name, n + 1), raising)


def _line_items(line: bytes, name: str, n: int, raising: bool) -> Iterator[WireItem | ReadError]:
    """The items of line ``n`` of JSON Lines input."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        # Blank lines land here too: testing for them only on failure keeps the common
        # line free of the test.
        if not line.isspace():
            yield _fail(_not_json(exc), name, Source(name, n), raising)
        return
    # The two common lines, one bare event and one keyed event (a recorder of many
    # sessions writes a line per event), without the general walk's generators; both
    # yield what _value_items would.
    if type(obj) is dict and "events" not in obj:
        if "session" not in obj:
            if "Type" in obj or "type" in obj:
                yield name, obj, Source(name, n)
                return
        elif type(key := obj["session"]) is str:
            event = obj.get("event")
            if type(event) is dict and ("Type" in event or "type" in event):
                yield key, event, Source(name, n)
                return
    yield from _checked(_value_items(obj, name, Source(name, n), None), raising)


def _taken_lines(
    stream: IO[bytes], name: str, n: int, raising: bool, limit: int, take: TakeLines
) -> Iterator[WireItem | ReadError]:
    """JSON Lines after line ``n``, read a chunk at a time and offered to ``take``; the
    lines it leaves are read here, one by one, as always. Holds at most ``limit`` bytes of
    an unfinished line plus one chunk."""
    # read1: at most one read of the source, so what came before damaged gzip data
    # is handed on before the damage is met, as line by line
    read = getattr(stream, "read1", stream.read)
    pending = b""
    while True:
        try:
            chunk = read(_CHUNK)
        except _DAMAGED as exc:
            yield _fail(_damaged(exc), name, Source(name, n + 1), raising)
            return
        at_end = not chunk
        data = pending + chunk if pending else chunk
        while data:
            used, taken = take(data, name, n + 1, limit, at_end)
            n += taken
            if used:
                data = data[used:]
            # what take left starts with a line: whole (the reader's), too long, or unfinished
            newline = data.find(b"\n", 0, limit + 1)
            if newline >= 0:
                n += 1
                yield from _line_items(data[:newline + 1], name, n, raising)
                data = data[newline + 1:]
            elif len(data) > limit:
                yield _fail(_too_long(limit), name, Source(name, n + 1), raising)
                return
            else:
                break
        if at_end:
            if data:  # the last line, with no newline
                yield from _line_items(data, name, n + 1, raising)
            return
        pending = data


_DAMAGED: Final = (EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a damaged gzip stream raises."""


def _damaged(exc: Exception) -> InputError:
    return InputError(f"damaged gzip data: {exc}")


def _too_long(limit: int) -> InputError:
    # The rest of the line is not skipped to read on after it: a line with no end
    # (/dev/zero, a broken writer) would be read for ever, so the input ends here.
    return InputTooLargeError(f"line is longer than max_line_bytes ({limit} bytes): not "
                              "parsed, and nothing after it in this input is read")


def _fail(error: InputError, key: str, source: Source, raising: bool) -> ReadError:
    error.located(source)
    if raising:
        raise error
    return ReadError(key, error, source)


def _checked(
    items: Iterator[WireItem | ReadError], raising: bool
) -> Iterator[WireItem | ReadError]:
    """``items``, raising the first ReadError's error in "raise" mode."""
    for item in items:
        if raising and type(item) is ReadError:
            raise item.error
        yield item


def _not_json(exc: orjson.JSONDecodeError, *, document: bool = False) -> InputError:
    if exc.msg == _DEPTH_MESSAGE:
        return InputTooLargeError("JSON nested deeper than 1024 levels (the parser's limit)")
    # A line's error counted past its own newline ("unexpected end of data") has no
    # column worth showing; a document's error line is the source's line.
    if document or exc.lineno == 1:
        return NotJsonError(f"not valid JSON: {exc.msg} (column {exc.colno})")
    return NotJsonError(f"not valid JSON: {exc.msg}")


# --- shapes ----------------------------------------------------------------------------


def _value_items(
    value: Any, key: str, source: Source, node: _Node | None
) -> Iterator[WireItem | ReadError]:
    """The events of one line's or document's value; ``node`` holds per-value sources.

    Batches (``Source.batch``): each response or envelope is one, whatever the line
    breaks (a line holding an array of responses has one per response; a pretty-printed
    one keeps its events together); a line's or a document's bare events are one.
    """
    if type(value) is list:
        kids = cast(list[_Node], node.kids) if node is not None else None
        whole = (source.line, 0)
        for i, element in enumerate(value):
            kid = kids[i] if kids is not None else None
            at = kid.source if kid is not None else source
            if type(element) is dict and ("session" in element or "events" in element):
                yield from _container_items(element, key, at, kid, (at.line, i))
            else:
                if kid is not None:  # a document's event: its own line, the document's batch
                    at = Source(at.path, at.line, whole)
                yield _event_item(element, key, at)
    elif type(value) is dict and ("session" in value or "events" in value):
        yield from _container_items(value, key, source, node, (source.line, 0))
    else:
        yield _event_item(value, key, source)


def _container_items(
    obj: dict[str, Any], key: str, source: Source, node: _Node | None,
    batch: tuple[int, int],
) -> Iterator[WireItem | ReadError]:
    """The events of a response (``events``) or an envelope (``session`` + events/event),
    all of the batch ``batch``."""
    kids = cast(dict[str, _Node], node.kids) if node is not None and node.kids else {}
    source = Source(source.path, source.line, batch)
    if "session" in obj:
        session = obj["session"]
        if type(session) is not str:
            error = NotAnEventError(f'envelope "session" must be a string, got {kind_of(session)}')
            yield ReadError(key, error.located(source), source)
            return
        key = session
        if "events" not in obj:
            if "event" not in obj:
                error = NotAnEventError('envelope has neither "events" nor "event"')
                yield ReadError(key, error.located(source), source)
                return
            at = _in_batch(kids["event"].source, batch) if "event" in kids else source
            yield _event_item(obj["event"], key, at)
            return
    events = obj["events"]
    events_node = kids.get("events")
    if type(events) is not list:
        at = _in_batch(events_node.source, batch) if events_node is not None else source
        error = NotAnEventError(f'"events" must be an array, got {kind_of(events)}')
        yield ReadError(key, error.located(at), at)
        return
    if events_node is None or events_node.kids is None:
        for event in events:
            yield _event_item(event, key, source)
    else:
        for event, kid in zip(events, cast(list[_Node], events_node.kids), strict=True):
            yield _event_item(event, key, _in_batch(kid.source, batch))


def _in_batch(source: Source, batch: tuple[int, int]) -> Source:
    return Source(source.path, source.line, batch)


def _event_item(value: Any, key: str, source: Source) -> WireItem | ReadError:
    if type(value) is dict and ("Type" in value or "type" in value):
        return key, value, source
    if type(value) is dict:
        detail = (
            'object has no "Type": not an event, a get-next-event response ("events")'
            ' or a session envelope ("session")'
        )
    else:
        detail = f"expected an event object, got {kind_of(value)}"
    return ReadError(key, NotAnEventError(detail).located(source), source)




# --- a multi-line document ---------------------------------------------------------------


class _Node:
    """Where one value of a document starts, and where its located children start."""

    __slots__ = ("kids", "source")

    def __init__(self, source: Source) -> None:
        self.source = source
        self.kids: list[_Node] | dict[str, _Node] | None = None


class _Document:
    """A whole document: its bytes (for the line walk) and its parsed value."""

    def __init__(self, data: bytes, value: Any) -> None:
        self.data = data
        self.value = value

    def items(self, name: str, first_line: int) -> Iterator[WireItem | ReadError]:
        first = Source(name, first_line)
        try:
            node: _Node | None = _Walker(self.data.decode(), name, first_line).root(self.value)
        except Exception:
            # Only the line numbers are lost: orjson has already accepted the document.
            node = None
        return _value_items(self.value, name, first, node)


def _try_document(
    first: bytes, lines: Iterator[bytes], limit: int
) -> tuple[_Document | None, list[bytes]]:
    """Read on from a first line that is not JSON on its own: is the input one document?

    Returns the document, or None and the lines read ahead (after ``first``) when the
    input is JSON Lines with a bad first line. Raises the document's own error when it is
    a document that is broken or over ``limit``.
    """
    buffered: list[bytes] = []
    total = len(first)
    for line in lines:
        buffered.append(line)
        total += len(line)
        if total > limit:
            break
    data = first + b"".join(buffered)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Which failed, the document or the first line? A document's error past the first
        # line may still be a JSON Lines file whose first line is cut short: then the next
        # non-blank line parses on its own, which almost no line inside a document does.
        if exc.lineno == 1 or _parses(next((x for x in buffered if not x.isspace()), b"")):
            return None, buffered
        if total > limit:
            raise _DocumentError(
                InputTooLargeError(
                    f"document is longer than max_line_bytes ({limit} bytes); not parsed"
                ),
                0,
            ) from None
        raise _DocumentError(_not_json(exc, document=True), exc.lineno - 1) from None
    if total > limit:
        # Cannot happen with a truncated prefix, but a complete value is still too large.
        raise _DocumentError(
            InputTooLargeError(f"document is longer than max_line_bytes ({limit} bytes)"), 0
        )
    return _Document(data, value), buffered


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


class _DocumentError(Exception):
    """A broken document: its error and the line of the error, counted from its first."""

    def __init__(self, error: InputError, line_offset: int) -> None:
        self.error = error
        self.line_offset = line_offset
        super().__init__(str(error))


_skip_value = json.JSONDecoder().raw_decode
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Walker:
    """Finds where a document's event-level values start, guided by the parsed value.

    Descends only into the containers :func:`_value_items` looks into (the top array,
    responses and envelopes, their ``events``/``event``) and skips everything else with
    the standard library's C scanner, so events are not walked field by field.
    """

    def __init__(self, text: str, name: str, first_line: int) -> None:
        self.text = text
        self.name = name
        self.pos_seen = 0
        self.line = first_line

    def root(self, value: Any) -> _Node:
        start = self._ws(0)
        if type(value) is dict and not ("session" in value or "events" in value):
            return _Node(self._source(start))  # a single event: nothing to skip after it
        return self._value(start, value, 0)[0]

    def _source(self, pos: int) -> Source:
        # Positions only grow during the walk, so counting newlines is linear overall.
        self.line += self.text.count("\n", self.pos_seen, pos)
        self.pos_seen = pos
        return Source(self.name, self.line)

    def _ws(self, pos: int) -> int:
        return cast(re.Match[str], _WHITESPACE.match(self.text, pos)).end()

    def _value(self, pos: int, value: Any, level: int) -> tuple[_Node, int]:
        """The node of ``value`` starting at ``pos`` and the position after it.

        ``level``: 0 the document, 1 an element of the top array, 2 the ``events``/``event``
        of a container, 3 an element of ``events``.
        """
        node = _Node(self._source(pos))
        text = self.text
        if type(value) is list and level in (0, 2):
            kids: list[_Node] = []
            pos = self._ws(pos + 1)
            if not value:
                return node, pos + 1  # past "]"
            for element in value:
                kid, pos = self._value(pos, element, level + 1)
                kids.append(kid)
                pos = self._ws(self._ws(pos) + 1)  # past "," (or the closing "]")
            node.kids = kids
            return node, pos
        if type(value) is dict and level < 2 and ("session" in value or "events" in value):
            members: dict[str, _Node] = {}
            pos = self._ws(pos + 1)
            while text[pos] != "}":
                name, pos = _skip_value(text, pos)
                pos = self._ws(self._ws(pos) + 1)  # past ":"
                if name in ("events", "event"):
                    members[name], pos = self._value(pos, value[name], 2)
                else:
                    pos = _skip_value(text, pos)[1]
                pos = self._ws(pos)
                if text[pos] == ",":
                    pos = self._ws(pos + 1)
            node.kids = members
            return node, pos + 1
        return node, _skip_value(text, pos)[1]
