"""Types of the native core (``session_fsm/native/*.rs``), for mypy; kept in step by hand
with the Rust sources, and checked against them by ``tests/test_native_machines.py``."""

SOURCE_DIGEST: str

class Machine:
    """A machine kind's transition table (``machine.rs``)."""

    @property
    def name(self) -> str: ...
    def __init__(self, name: str, states: list[str], triggers: list[str],
                 table: dict[tuple[str, str], str]) -> None: ...
    def next_state(self, state: str, trigger: str) -> str | None: ...
    def trigger_for(self, wire_value: str | None) -> str | None: ...
    def __len__(self) -> int: ...

MAX_INT_DIGITS: int

def parse_field(kind: str, json: bytes) -> bool | int | str | None:
    """One JSON value read as a field of ``kind`` ("bool", "int" or "str"), as the
    codec's ``parse_bool``, ``parse_int`` and ``parse_str`` read it (``codec.rs``);
    ValueError naming what the kind holds."""

def wire_digest(wire: dict[str, object]) -> int | None:
    """The redelivery digest of a wire object as the core computes it (``wire.rs``)."""

class Kit:
    """This package's declarations as the engine core takes them (``engine.rs``):
    built once per process by ``engine/native.py``."""

    def __init__(self, routes: list[tuple[str, str, bool, bool, bool, bool, list[int]]],
                 readers: list[tuple[object, ...]], machines: dict[str, Machine],
                 kinds: list[tuple[object, ...]],
                 rules: dict[str, tuple[object, object, bool]],
                 classes: dict[str, object]) -> None: ...

class Core:
    """One agent session on the native core (``engine.rs``); ``engine/native.py``'s
    ``NativeSession`` is its face."""

    key: str
    strict: bool
    position: int
    events: int
    finished: bool
    violation_count: int
    def __init__(self, kit: Kit, key: str, strict: bool = False,
                 ignore: set[str] = ...) -> None: ...
    def apply(self, route: int, facts: object, digest: int | None, source: object,
              batch: object, bad: list[str]) -> tuple[object, ...]: ...
    def feed_wire(self, wire: dict[str, object], source: object,
                  batch: object) -> tuple[object, ...] | None: ...
    def report_input_error(self, rule: str, detail: str,
                           source: object) -> tuple[object, ...]: ...
    def end(self, reason: str, message: str | None = None) -> tuple[object, ...]: ...
    def finish(self) -> tuple[object, ...]: ...
    def export(self, parts: list[str] | None = None) -> dict[str, object]: ...
    def restore(self, state: dict[str, object]) -> None: ...

class Lines:
    """JSON Lines read by the core itself (``lines.rs``): ``SessionEngine.line_taker``."""

    def __init__(self, kit: Kit, lookup: object, on_wire: object, publish: object,
                 subscribers: list[object], always: bool) -> None: ...
    def feed_chunk(self, data: bytes, path: str, line: int, limit: int,
                   last: bool) -> tuple[int, int, int]: ...
