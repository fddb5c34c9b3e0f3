"""The package's exceptions: one base class, subclasses that carry their context.

Every error a user can meet names where it happened (file and line, or session and
event index) as attributes, so callers can act on it without parsing the message.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

OnError: TypeAlias = Literal["raise", "report"]
"""What to do with bad input: raise its error, or report it (as an item or a violation)
and go on. The reader and the engine's feed() take it alike."""


@attrs.frozen(slots=True)
class Source:
    """Where an event came from: a file (``-`` for standard input) and a 1-based line."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


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
