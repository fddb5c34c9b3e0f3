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
