"""The package's exceptions: one base class, subclasses that carry their context.

Every error a user can meet names where it happened (file and line, or session and
event index) as attributes, so callers can act on it without parsing the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

if TYPE_CHECKING:
    import sqlite3

OnError: TypeAlias = Literal["raise", "report"]
"""What to do with bad input: raise its error, or report it (as an item or a violation)
and go on. The reader and the engine's feed() take it alike."""


@attrs.frozen(slots=True)
class Source:
    """Where an event came from: a file (``-`` for standard input) and a 1-based line."""

    path: str
    line: int
    batch: tuple[int, int] | None = attrs.field(default=None, eq=False, repr=False)
    """The get-next-event response (or envelope) the event came in, when the reader knows
    it: the line where that response starts and its place among the values starting on
    that line. None: the line is the batch. Not part of equality: it says which events
    came together, not where one is."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def same_batch(one: Source, other: Source) -> bool:
    """Whether two sources are of one batch: one response, or one line (see ``batch``)."""
    if one.path != other.path:
        return False
    if one.batch is None and other.batch is None:
        return one.line == other.line
    return (one.batch or (one.line, 0)) == (other.batch or (other.line, 0))


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, its plural with an ``s`` unless ``n`` is 1: "1 event", "2 events"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class SessionFsmError(Exception):
    """Base class of every error session_fsm raises on purpose."""


class InputError(SessionFsmError):
    """Input that cannot be read as events; ``source`` says where, ``detail`` says what."""

    def __init__(self, detail: str, source: Source | None = None) -> None:
        self.detail = detail
        self.source = source
        super().__init__(str(self))

    def located(self, source: Source) -> InputError:
        """The same error, now knowing where it came from (the codec does not know)."""
        self.source = source
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}" if self.source else self.detail


class NotJsonError(InputError):
    """A line or document that is not valid JSON."""


class NotAnEventError(InputError):
    """JSON that is not an event object (an array of numbers, a string, no ``Type``...)."""


class FieldError(InputError):
    """An event field whose value is not of the documented kind (e.g. ``"AcwTimeout": "soon"``)."""

    def __init__(
        self,
        event_type: str,
        field: str,
        expected: str,
        value: Any,
        source: Source | None = None,
    ) -> None:
        self.event_type = event_type
        self.field = field
        self.expected = expected
        self.value = value
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{event_type}.{field}: expected {expected}, got {shown}", source)


class InputTooLargeError(InputError):
    """A line or document over the configured size, or nested too deeply."""


class SequenceError(SessionFsmError):
    """An event the documented protocol forbids at this point (raised in strict mode only)."""

    def __init__(
        self,
        rule: str,
        message: str,
        *,
        machine: str,
        subject: str | None,
        state: str | None,
        trigger: str | None,
        event_index: int,
        session: str = "",
    ) -> None:
        self.rule = rule
        self.machine = machine
        self.subject = subject
        self.state = state
        self.trigger = trigger
        self.event_index = event_index
        self.session = session
        super().__init__(f"{session or 'session'} event {event_index}: [{rule}] {message}")


class CheckpointError(SessionFsmError):
    """A checkpoint that cannot be restored (foreign, newer, damaged) or taken (state
    that lives outside the engine, such as contacts flushed to a store)."""


class CheckpointLoadError(CheckpointError):
    """A checkpoint refused on load: not JSON, another format or version, or damaged (a
    field missing, unknown, of the wrong type or out of range). ``field`` is the damaged
    field's path in the document (``sessions[0].events``), None when the whole document
    is refused; ``detail`` says what is wrong; ``file`` is the checkpoint file, once known."""

    def __init__(self, detail: str, field: str | None = None, file: str | None = None) -> None:
        self.detail = detail
        self.field = field
        self.file = file
        super().__init__(str(self))

    def located(self, file: str) -> CheckpointLoadError:
        """The same error, now knowing the file it was read from."""
        self.file = file
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        where = "checkpoint" if self.file is None else f"checkpoint {self.file}"
        if self.field is None:
            return f"{where} {self.detail}"
        return f"{where} is damaged: {self.field}: {self.detail}"


# --- following a live session (io/client.py) -----------------------------------------------


EXCERPT_CHARS: Final = 200


_SESSION_ID_RULE: Final = "1 to 256 of A-Z a-z 0-9 . _ ~ -, and not . or .."


class FollowError(SessionFsmError):
    """Following stopped on a failure; ``session_id`` is the one to resume from."""

    def __init__(self, message: str, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"{message} (resume from session id {session_id})")


class TokenError(FollowError):
    """The bearer token could not be read (missing or empty file, failing callable)."""

    def __init__(self, detail: str, session_id: str) -> None:
        self.detail = detail
        super().__init__(f"cannot read the bearer token: {detail}", session_id)


class AuthError(FollowError):
    """``401`` again after the token was read afresh: the token is not accepted."""

    def __init__(self, url: str, session_id: str) -> None:
        self.url = url
        super().__init__(f"401 Unauthorized from {url}, also with a freshly read token",
                         session_id)


class UnexpectedStatusError(FollowError):
    """A status the poll protocol does not retry (e.g. ``400``, ``403``, ``404``)."""

    def __init__(self, status: int, url: str, body: str, session_id: str) -> None:
        self.status = status
        self.url = url
        self.body = body
        shown = f": {body}" if body else ""
        super().__init__(f"HTTP {status} from {url}{shown}", session_id)


class GaveUpError(FollowError):
    """The retry limit was reached; ``cause`` describes the last failure."""

    def __init__(self, attempts: int, cause: str, session_id: str) -> None:
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"gave up after {plural(attempts, 'failed attempt')} in a row; "
                         f"last: {cause}", session_id)


class RotatedSessionIdError(FollowError):
    """A 200 body's ``sessionId`` that is not one plain path segment: no poll uses it."""

    def __init__(self, value: str, response: int, session_id: str) -> None:
        self.value = value
        self.response = response
        super().__init__(f'response {response} gives the session id "{printable(value, 80)}", '
                         f"which is not one plain path segment ({_SESSION_ID_RULE}); "
                         "nothing of it applied, no request made with it", session_id)


class BodyTooLargeError(FollowError):
    """A 200 body over ``max_body`` bytes, or whose recorded line would be: not applied.

    ``line_bytes`` is the size of that line; None when the body itself was over (it is
    not read further, so its size is not known).
    """

    def __init__(self, url: str, limit: int, line_bytes: int | None, session_id: str) -> None:
        self.url = url
        self.limit = limit
        self.line_bytes = line_bytes
        what = "is" if line_bytes is None else f"would be recorded as {line_bytes} bytes,"
        super().__init__(f"a 200 body from {url} {what} over the body limit of {limit} bytes; "
                         "nothing of it applied or recorded", session_id)


class RecordError(FollowError):
    """``record`` failed on a response (``response`` is its number): nothing of it applied."""

    def __init__(self, detail: str, response: int, session_id: str) -> None:
        self.detail = detail
        self.response = response
        super().__init__(f"cannot record response {response}: {detail}; nothing of it "
                         "applied", session_id)


class SessionIdError(SessionFsmError, ValueError):
    """A session id given to follow that is not one plain path segment."""

    def __init__(self, value: str, where: str) -> None:
        self.value = value
        self.where = where
        super().__init__(f'{where} "{printable(value, 80)}" is not one plain path segment '
                         f"({_SESSION_ID_RULE})")


def printable(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` as it may reach a terminal or a log: its first ``limit`` characters, with
    backslashes and every character that is not printable (escape sequences, CR, LF,
    bidirectional controls) escaped as :func:`repr` escapes them."""
    cut = text[:limit]
    if not cut.isprintable() or "\\" in cut:
        cut = "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in cut)
    return cut + "..." if len(text) > limit else cut


# --- the store (io/store.py) ---------------------------------------------------------------


class StoreError(SessionFsmError):
    """A store that cannot be used: not a store, a newer format, not there, busy, or
    SQLite failed; ``path`` is the store's."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


class StoreConflictError(StoreError):
    """An input position whose event differs from the one the store holds for it."""

    def __init__(self, path: str, source: Source, stored_from: str) -> None:
        self.source = source
        self.stored_from = stored_from
        super().__init__(
            path,
            f"{source}: the store holds a different event for this position (ingested from "
            f"{stored_from}); the input changed since: ingest it under another name or "
            "into another store"
        )


class StoreBusyError(StoreError):
    """Another process kept the store's writer lock for longer than ``waited_s``."""

    def __init__(self, path: str, waited_s: float) -> None:
        self.waited_s = waited_s
        super().__init__(
            path,
            f"{path}: another process is writing to this store; gave up after waiting "
            f"{waited_s:g} s for it (run again once it is done, or wait longer: --lock-timeout)"
        )


class StoreFailedError(StoreError):
    """SQLite failed while the store was used: disk full, a file-size limit, a lock held
    too long, a damaged page, a read-only file. ``action`` is what was being done,
    ``code`` SQLite's name for the error (``SQLITE_FULL``, ``SQLITE_CORRUPT``...). What
    was committed before stays: the store is consistent, and a run again completes."""

    def __init__(self, path: str, action: str, error: sqlite3.Error) -> None:
        self.action = action
        self.code = error.sqlite_errorname
        # SQLite's own words name the symptom; these, the likely cause
        cause = next((c for prefix, c in _CAUSES.items() if self.code.startswith(prefix)), "")
        super().__init__(path, f"{path}: {action} failed: {error} ({self.code})"
                               + (f": {cause}" if cause else ""))


_CAUSES: Final = {
    "SQLITE_FULL": "the disk is full or a file-size limit was reached",
    "SQLITE_IOERR": "a full disk, a file-size limit or a failing device",
    "SQLITE_BUSY": "another process held a lock on the store for longer than the wait allowed",
    "SQLITE_CORRUPT": "the file is damaged; ingest the inputs into a new store",
    "SQLITE_READONLY": "the file or its directory cannot be written",
    "SQLITE_CANTOPEN": "the file or its directory cannot be opened",
}


# --- validation (views/validation.py) ------------------------------------------------------


class UnknownRuleError(SessionFsmError, ValueError):
    """A rule name that is not in the catalogue; ``names`` are the unknown ones."""

    def __init__(self, names: Iterable[str], valid: Iterable[str],
                 option: str = "rule") -> None:
        self.names = tuple(names)
        self.option = option
        self.valid = tuple(valid)
        unknown = ", ".join(repr(name) for name in self.names)
        super().__init__(f"unknown {option} {unknown}; valid rules: {', '.join(self.valid)}")


# --- archive replays (io/replay.py) --------------------------------------------------------


class ReplayError(SessionFsmError):
    """A replay that cannot go on (a checkpoint directory in the wrong state...)."""


class ReportError(SessionFsmError):
    """A report source (replay's tables, a store) that cannot be read; ``path`` is the
    source, ``reason`` why. Says it in every command's wording: ``cannot read PATH: reason``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot read {path}: {reason}")


# --- the service (io/service/) -------------------------------------------------------------


class ServiceError(SessionFsmError):
    """``serve`` cannot start or go on: a bad state file, an address it cannot listen on."""


class ConfigError(ServiceError):
    """The ``serve --config`` file cannot be used; ``where`` names the file and the place in
    it (session number and key), ``detail`` the field and what was expected."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"{where}: {detail}")


class PushError(SessionFsmError):
    """A body pushed to ``POST /api/events`` that cannot be applied (nothing of it was):
    ``line`` is the body's line at fault, ``detail`` what is wrong there."""

    def __init__(self, line: int, detail: str) -> None:
        self.line = line
        self.detail = detail
        super().__init__(f"line {line}: {detail}")


class JournalError(ServiceError):
    """The service's write-ahead journal cannot be used: ``path`` and the byte ``offset``
    where it is damaged (or 0), ``detail`` what is wrong. The service refuses to start
    rather than skip an input it acknowledged."""

    def __init__(self, path: str, offset: int, detail: str) -> None:
        self.path = path
        self.offset = offset
        self.detail = detail
        super().__init__(f"{path}: {detail} (at byte {offset}); the inputs it holds were "
                         "acknowledged, so the service will not start without them: restore "
                         "the file, or move it away to start from the saved state alone")


# --- the native core (native/) -------------------------------------------------------------


class NativeCoreError(SessionFsmError):
    """The native core cannot be used: not built, or built from other sources than the
    ones beside it; the message says how to build it."""


class PushConflictError(PushError):
    """A push under the key of a session the service follows: it would merge two streams
    into one session (``?merge=1`` asks for that on purpose)."""
