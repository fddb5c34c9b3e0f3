"""The reader on real files: every input shape, sources, errors in both modes, memory."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from session_fsm.errors import (
    FieldError,
    InputError,
    InputTooLargeError,
    NotAnEventError,
    NotJsonError,
    Source,
)
from session_fsm.wire import reader
from session_fsm.wire.events import AgentSessionStart, AgentState, Mute, UnknownEvent
from session_fsm.wire.reader import ReadError, ReadItem, iter_wire, read, read_one

REPO = Path(__file__).resolve().parents[1]

START: dict[str, Any] = {"Type": "AgentSessionStart", "AgentId": "12214", "SessionId": "58070815"}
STATE: dict[str, Any] = {
    "Type": "AgentState",
    "CurrentState": "Available",
    "CurrentOutReason": "",
    "IsAcw": "False",
    "AcwTimeout": "0",
}
MUTE: dict[str, Any] = {"Type": "Mute", "AgentMuted": "True"}
BAD_ACW: dict[str, Any] = {
    "Type": "AgentState",
    "CurrentState": "Unavailable",
    "AcwTimeout": "soon",
}


def line(value: Any) -> str:
    return json.dumps(value) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def items(path: str | os.PathLike[str], **options: Any) -> list[ReadItem | ReadError]:
    return list(read_one(path, **options))


def summary(found: list[ReadItem | ReadError]) -> list[tuple[str, str, int]]:
    """(key, event class or error class, line) per item: what most tests compare."""
    return [
        (
            item.key,
            type(item.event).__name__ if isinstance(item, ReadItem) else type(item.error).__name__,
            item.source.line,
        )
        for item in found
    ]


# --- shapes ----------------------------------------------------------------------------


def test_single_event_is_read_with_its_file_as_key(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", line(STATE))
    [item] = items(str(path))
    assert isinstance(item, ReadItem)
    assert item.key == str(path)
    assert item.source == Source(str(path), 1)
    assert isinstance(item.event, AgentState)
    assert item.event.current_state == "Available"
    assert item.event.acw_timeout == 0


def test_array_of_events(tmp_path: Path) -> None:
    path = write(tmp_path / "array.json", line([START, STATE, MUTE]))
    found = items(path)
    key = str(path)
    assert summary(found) == [
        (key, "AgentSessionStart", 1),
        (key, "AgentState", 1),
        (key, "Mute", 1),
    ]


def test_get_next_event_response(tmp_path: Path) -> None:
    path = write(
        tmp_path / "response.json", line({"sessionId": "58070815", "events": [START, STATE]})
    )
    key = str(path)
    assert summary(items(path)) == [(key, "AgentSessionStart", 1), (key, "AgentState", 1)]


def test_array_of_responses(tmp_path: Path) -> None:
    responses = [
        {"sessionId": "1", "events": [START]},
        {"sessionId": "1", "events": []},
        {"sessionId": "2", "events": [STATE, MUTE]},
    ]
    path = write(tmp_path / "responses.json", line(responses))
    key = str(path)
    assert summary(items(path)) == [
        (key, "AgentSessionStart", 1),
        (key, "AgentState", 1),
        (key, "Mute", 1),
    ]


def test_json_lines_of_every_shape(tmp_path: Path) -> None:
    text = "".join(
        [
            line(START),
            "\n",  # blank lines are skipped but still counted
            line([STATE, MUTE]),
            line({"sessionId": "1", "events": [MUTE]}),
            "   \n",
            line([{"sessionId": "1", "events": [STATE]}, {"sessionId": "2", "events": [MUTE]}]),
            line({"session": "agent-7", "events": [START, STATE]}),
            line({"session": "agent-8", "event": MUTE}),
            line({"type": "AgentState", "CurrentState": "Available"}),  # lower-case "type"
        ]
    )
    path = write(tmp_path / "shapes.jsonl", text)
    key = str(path)
    assert summary(items(path)) == [
        (key, "AgentSessionStart", 1),
        (key, "AgentState", 3),
        (key, "Mute", 3),
        (key, "Mute", 4),
        (key, "AgentState", 6),
        (key, "Mute", 6),
        ("agent-7", "AgentSessionStart", 7),
        ("agent-7", "AgentState", 7),
        ("agent-8", "Mute", 8),
        (key, "AgentState", 9),
    ]


def test_interleaved_sessions_keep_input_order_and_their_keys(tmp_path: Path) -> None:
    text = "".join(
        line({"session": key, "event": event})
        for key, event in [("a", START), ("b", START), ("a", STATE), ("c", MUTE), ("b", STATE)]
    )
    found = items(write(tmp_path / "mixed.jsonl", text))
    assert [
        (item.key, type(item.event).__name__) for item in found if isinstance(item, ReadItem)
    ] == [
        ("a", "AgentSessionStart"),
        ("b", "AgentSessionStart"),
        ("a", "AgentState"),
        ("c", "Mute"),
        ("b", "AgentState"),
    ]
    assert [item.source.line for item in found] == [1, 2, 3, 4, 5]


def test_unknown_type_is_an_event_not_an_error(tmp_path: Path) -> None:
    [item] = items(write(tmp_path / "new.jsonl", line({"Type": "BrandNewEvent", "X": "1"})))
    assert isinstance(item, ReadItem)
    assert isinstance(item.event, UnknownEvent)


def test_several_files_each_keyed_by_its_path_as_given(tmp_path: Path) -> None:
    first = write(tmp_path / "a.jsonl", line(START) + line(STATE))
    second = write(tmp_path / "b.jsonl", line(MUTE))
    found = list(read([first, str(second)]))
    assert [(item.key, item.source.path, item.source.line) for item in found] == [
        (str(first), str(first), 1),
        (str(first), str(first), 2),
        (str(second), str(second), 1),
    ]


def test_empty_and_blank_files_yield_nothing(tmp_path: Path) -> None:
    assert items(write(tmp_path / "empty.jsonl", "")) == []
    assert items(write(tmp_path / "blank.jsonl", "\n  \n\t\n")) == []


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line(START).encode() + line(MUTE).encode())
    assert [type(item.event).__name__ for item in items(path) if isinstance(item, ReadItem)] == [
        "AgentSessionStart",
        "Mute",
    ]


# --- gzip and standard input -------------------------------------------------------------


def test_gzip_by_suffix_and_by_magic_bytes(tmp_path: Path) -> None:
    data = (line(START) + "\n" + line({"session": "s", "events": [STATE, MUTE]})).encode()
    named = tmp_path / "stream.jsonl.gz"
    named.write_bytes(gzip.compress(data))
    misnamed = tmp_path / "stream.jsonl"  # compressed, but nothing in the name says so
    misnamed.write_bytes(gzip.compress(data))
    plain_gz = tmp_path / "plain.gz"  # the suffix alone does not make it gzip
    plain_gz.write_bytes(data)
    for path in (named, misnamed, plain_gz):
        assert summary(items(path)) == [
            (str(path), "AgentSessionStart", 1),
            ("s", "AgentState", 3),
            ("s", "Mute", 3),
        ]


def test_damaged_gzip_is_an_input_error_with_a_source(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(b"".join(line(STATE).encode() for _ in range(200)))
    path.write_bytes(whole[: len(whole) - 12])  # the trailer and some data lost
    with pytest.raises(InputError) as raised:
        items(path)
    assert str(path) in str(raised.value)
    assert "gzip" in str(raised.value)
    found = items(path, on_error="report")
    assert isinstance(found[-1], ReadError)
    assert all(isinstance(item, ReadItem) for item in found[:-1])


def test_standard_input_in_a_real_process(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from session_fsm.wire.reader import read\n"
        "print(json.dumps([[i.key, type(i.event).__name__, str(i.source)] for i in read(['-'])]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    data = (line(START) + line({"session": "agent-9", "event": MUTE})).encode()
    for stdin in (data, gzip.compress(data)):
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=stdin,
            capture_output=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        assert json.loads(done.stdout) == [
            ["-", "AgentSessionStart", "-:1"],
            ["agent-9", "Mute", "-:2"],
        ]


def test_standard_input_replaced_by_a_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    pretty = json.dumps({"sessionId": "1", "events": [START, MUTE]}, indent=2).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(pretty))))
    found = items("-")
    assert [
        (item.key, type(item.event).__name__) for item in found if isinstance(item, ReadItem)
    ] == [
        ("-", "AgentSessionStart"),
        ("-", "Mute"),
    ]


# --- one (pretty-printed) document -------------------------------------------------------


def test_pretty_printed_document_gives_each_event_its_own_line(tmp_path: Path) -> None:
    text = """
[
  {
    "sessionId": "1",
    "events": [
      {"Type": "AgentSessionStart", "AgentId": "5"},
      {
        "Type": "AgentState",
        "CurrentState": "Available"
      }
    ],
    "extra": [{"events": "not these"}]
  },
  {"sessionId": "2", "events": []},
  {"session": "k2", "event": {"Type": "Mute", "AgentMuted": "True"}},
  {"session": "k3",
   "events": [
     {"Type": "Mute"}, {"Type": "AgentState", "CurrentState": "Away"}
   ]}
]
"""
    path = write(tmp_path / "pretty.json", text)
    key = str(path)
    assert summary(items(path)) == [
        (key, "AgentSessionStart", 6),
        (key, "AgentState", 7),
        ("k2", "Mute", 15),
        ("k3", "Mute", 18),
        ("k3", "AgentState", 18),
    ]


def test_pretty_printed_single_event_and_response(tmp_path: Path) -> None:
    event = write(tmp_path / "event.json", "\n\n" + json.dumps(STATE, indent=4))
    [item] = items(event)
    assert isinstance(item, ReadItem)
    assert isinstance(item.event, AgentState)
    assert item.source.line == 3
    response = {"sessionId": "1", "events": [START, BAD_ACW, MUTE]}
    path = write(tmp_path / "response.json", json.dumps(response, indent=2))
    key = str(path)
    # START's object opens on line 4 of json.dumps(indent=2); each event spans 5 lines.
    assert summary(items(path, on_error="report")) == [
        (key, "AgentSessionStart", 4),
        (key, "FieldError", 9),
        (key, "Mute", 14),
    ]


def test_broken_document_names_the_line_of_its_error(tmp_path: Path) -> None:
    # A comma is missing at the end of line 4: the error shows on line 5.
    text = '{\n  "sessionId": "1",\n  "events": [\n    {"Type": "Mute"}\n'
    text += '    {"Type": "Mute"}\n  ]\n}\n'
    path = write(tmp_path / "broken.json", text)
    with pytest.raises(NotJsonError) as raised:
        items(path)
    assert raised.value.source == Source(str(path), 5)
    assert str(raised.value).startswith(f"{path}:5: not valid JSON")
    # Nothing after the error can be trusted in a document: one error, then the next file.
    other = write(tmp_path / "next.jsonl", line(MUTE))
    found = list(read([path, other], on_error="report"))
    assert summary(found) == [(str(path), "NotJsonError", 5), (str(other), "Mute", 1)]


def test_json_lines_with_a_bad_first_line_goes_on_after_it(tmp_path: Path) -> None:
    for first in ('{"Type": "AgentState", "CurrentState": \n', '{"Type": "Mute",, }\n', "[1,\n"):
        path = write(tmp_path / "cut.jsonl", first + line(START) + "\n" + line(MUTE))
        key = str(path)
        assert summary(items(path, on_error="report")) == [
            (key, "NotJsonError", 1),
            (key, "AgentSessionStart", 2),
            (key, "Mute", 4),
        ]
        with pytest.raises(NotJsonError, match=f"^{path}:1: "):
            items(path)


def test_too_long_line_right_after_a_bad_first_line(tmp_path: Path) -> None:
    # The document test reads ahead and stops inside the long line, which is then found
    # at its own line and ends the file like any over-long line.
    long_line = line({"Type": "Mute", "Pad": "x" * 9000})
    path = write(tmp_path / "long.jsonl", '{"Type": "Mute",, }\n' + long_line + line(START))
    key = str(path)
    assert summary(items(path, on_error="report", max_line_bytes=4096)) == [
        (key, "NotJsonError", 1),
        (key, "InputTooLargeError", 2),
    ]


def test_document_nested_too_deeply(tmp_path: Path) -> None:
    path = write(tmp_path / "deep.json", "[\n  " + "[" * 1100 + "]" * 1100 + "\n]\n")
    with pytest.raises(InputTooLargeError, match=f"^{path}:2: JSON nested deeper than 1024"):
        items(path)


def test_document_lines_fall_back_to_its_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the walk that finds each event's line ever to fail, no event is lost.
    def broken(*_: Any) -> None:
        raise IndexError

    monkeypatch.setattr(reader._Walker, "root", broken)
    path = write(tmp_path / "pretty.json", "\n" + json.dumps([START, MUTE], indent=2))
    assert summary(items(path)) == [(str(path), "AgentSessionStart", 2), (str(path), "Mute", 2)]


def test_document_over_the_size_limit(tmp_path: Path) -> None:
    text = json.dumps([STATE] * 50, indent=2)
    path = write(tmp_path / "big.json", text)
    assert len(items(path)) == 50
    with pytest.raises(InputTooLargeError, match=f"^{path}:1: document is longer"):
        items(path, max_line_bytes=1000)
    found = items(path, max_line_bytes=1000, on_error="report")
    assert summary(found) == [(str(path), "InputTooLargeError", 1)]


# --- bad input, in both modes --------------------------------------------------------------

BAD_LINES: list[tuple[str, str, type[InputError], str]] = [
    # (name, the bad line, error class, what the message must also name)
    ("invalid-json", '{"Type": "Mute", "AgentMuted": }\n', NotJsonError, "not valid JSON"),
    ("not-an-object", '"AgentState"\n', NotAnEventError, "a string"),
    ("no-type", line({"CurrentState": "Available"}), NotAnEventError, '"Type"'),
    ("field-of-the-wrong-kind", line(BAD_ACW), FieldError, "AcwTimeout"),
    ("too-long", line({"Type": "Mute", "Pad": "x" * 5000}), InputTooLargeError, "max_line_bytes"),
    ("too-deep", "[" * 1100 + "]" * 1100 + "\n", InputTooLargeError, "nested deeper"),
]


@pytest.mark.parametrize(
    ("bad", "error", "named"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES]
)
def test_bad_line_raises_naming_file_and_line(
    tmp_path: Path, bad: str, error: type[InputError], named: str
) -> None:
    path = write(tmp_path / "bad.jsonl", line(START) + bad + line(MUTE))
    stream = read_one(path, max_line_bytes=4096)
    assert summary([next(stream)]) == [(str(path), "AgentSessionStart", 1)]
    with pytest.raises(error) as raised:
        next(stream)
    assert raised.value.source == Source(str(path), 2)
    message = str(raised.value)
    assert message.startswith(f"{path}:2: ")
    assert named in message
    if isinstance(raised.value, FieldError):
        assert raised.value.field == "AcwTimeout"
        expected = ("AgentState.AcwTimeout: expected an integer (a string of at most 18 "
                    "digits), got 'soon'")
        assert message == f"{path}:2: {expected}"


# An over-long line is the one bad line reading does not go on after (see below).
READ_ON = [case for case in BAD_LINES if case[0] != "too-long"]


@pytest.mark.parametrize(
    ("bad", "error", "named"), [case[1:] for case in READ_ON], ids=[case[0] for case in READ_ON]
)
def test_bad_line_is_reported_and_reading_goes_on(
    tmp_path: Path, bad: str, error: type[InputError], named: str
) -> None:
    path = write(tmp_path / "bad.jsonl", line(START) + bad + line(MUTE))
    found = items(path, on_error="report", max_line_bytes=4096)
    key = str(path)
    assert summary(found) == [
        (key, "AgentSessionStart", 1),
        (key, error.__name__, 2),
        (key, "Mute", 3),
    ]
    report = found[1]
    assert isinstance(report, ReadError)
    assert isinstance(report.error, error)
    assert report.error.source == report.source == Source(key, 2)
    assert str(report.error).startswith(f"{key}:2: ")
    assert named in str(report.error)


@pytest.mark.parametrize(
    ("bad", "error", "named"), [case[1:] for case in READ_ON], ids=[case[0] for case in READ_ON]
)
def test_bad_first_line_is_reported_too(
    tmp_path: Path, bad: str, error: type[InputError], named: str
) -> None:
    path = write(tmp_path / "bad.jsonl", bad + line(MUTE))
    found = items(path, on_error="report", max_line_bytes=4096)
    assert summary(found) == [(str(path), error.__name__, 1), (str(path), "Mute", 2)]
    assert named in str(cast_error(found[0]))


def cast_error(item: ReadItem | ReadError) -> InputError:
    assert isinstance(item, ReadError)
    return item.error


def test_bad_event_inside_a_line_spares_the_others(tmp_path: Path) -> None:
    text = line([MUTE, 5, {"NoType": 1}, BAD_ACW, START]) + line(
        {"session": "s", "events": [STATE, None]}
    )
    path = write(tmp_path / "mixed.jsonl", text)
    found = items(path, on_error="report")
    key = str(path)
    assert summary(found) == [
        (key, "Mute", 1),
        (key, "NotAnEventError", 1),
        (key, "NotAnEventError", 1),
        (key, "FieldError", 1),
        (key, "AgentSessionStart", 1),
        ("s", "AgentState", 2),
        ("s", "NotAnEventError", 2),
    ]
    assert "got a number" in str(cast_error(found[1]))
    assert "got null" in str(cast_error(found[6]))
    with pytest.raises(NotAnEventError, match=f"^{path}:1: expected an event object, got a number"):
        items(path)


def test_malformed_containers(tmp_path: Path) -> None:
    text = "".join(
        [
            line({"session": 42, "event": MUTE}),
            line({"session": "s"}),
            line({"sessionId": "1", "events": {"Type": "Mute"}}),
            line({"session": "t", "event": [MUTE]}),
        ]
    )
    path = write(tmp_path / "containers.jsonl", text)
    found = items(path, on_error="report")
    key = str(path)
    # An envelope whose key cannot be read is the file's; a readable key is kept.
    assert summary(found) == [
        (key, "NotAnEventError", 1),
        ("s", "NotAnEventError", 2),
        (key, "NotAnEventError", 3),
        ("t", "NotAnEventError", 4),
    ]
    messages = [str(cast_error(item)) for item in found]
    assert '"session" must be a string' in messages[0]
    assert 'neither "events" nor "event"' in messages[1]
    assert '"events" must be an array' in messages[2]
    assert "got an array" in messages[3]


def test_line_of_exactly_the_limit_is_read_and_one_more_byte_is_not(tmp_path: Path) -> None:
    event = {"Type": "Mute", "Pad": ""}
    event["Pad"] = "x" * (100 - len(json.dumps(event)))
    assert len(json.dumps(event)) == 100
    path = write(tmp_path / "edge.jsonl", line(event) + line({**event, "Pad": event["Pad"] + "y"}))
    assert summary(items(path, max_line_bytes=100, on_error="report")) == [
        (str(path), "Mute", 1),
        (str(path), "InputTooLargeError", 2),
    ]


@pytest.mark.parametrize("before", ["", line(START)], ids=["first-line", "later-line"])
def test_an_over_long_line_ends_its_file_in_both_modes(tmp_path: Path, before: str) -> None:
    # Its end may never come (/dev/zero), so nothing after it is looked for: the lines
    # after it are not read, the next file is.
    path = write(tmp_path / "long.jsonl", before + "x" * 10_000 + "\n" + line(MUTE))
    other = write(tmp_path / "next.jsonl", line(MUTE))
    found = list(read([path, other], on_error="report", max_line_bytes=4096))
    at = 1 + before.count("\n")
    assert summary(found) == [
        *([(str(path), "AgentSessionStart", 1)] if before else []),
        (str(path), "InputTooLargeError", at),
        (str(other), "Mute", 1),
    ]
    expected = (f"{path}:{at}: line is longer than max_line_bytes (4096 bytes): not parsed, "
                "and nothing after it in this input is read")
    assert str(cast_error(found[-2])) == expected
    with pytest.raises(InputTooLargeError) as raised:
        list(read([path, other], max_line_bytes=4096))
    assert str(raised.value) == expected


def test_wrong_options_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="on_error"):
        read(["nowhere"], on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_line_bytes"):
        iter_wire(["nowhere"], max_line_bytes=0)


# --- raw wire objects ------------------------------------------------------------------------


def test_iter_wire_yields_undecoded_objects(tmp_path: Path) -> None:
    text = line(BAD_ACW) + line({"session": "s", "events": [START, 7]})
    path = write(tmp_path / "wire.jsonl", text)
    found = list(iter_wire(path, on_error="report"))
    assert found[0] == (str(path), BAD_ACW, Source(str(path), 1))  # fields are not checked
    assert found[1] == ("s", START, Source(str(path), 2))
    assert isinstance(found[2], ReadError)
    assert isinstance(found[2].error, NotAnEventError)
    with pytest.raises(NotAnEventError, match=f"^{path}:2: "):
        list(iter_wire([path]))


def test_decoded_events_match_the_codec(tmp_path: Path) -> None:
    path = write(tmp_path / "typed.jsonl", line(START) + line(MUTE))
    events = [item.event for item in items(path) if isinstance(item, ReadItem)]
    assert isinstance(events[0], AgentSessionStart)
    assert events[0].agent_id == "12214"
    assert events[1] == Mute(agent_muted=True)


# --- memory --------------------------------------------------------------------------------


def write_stream(path: Path, megabytes: int) -> int:
    """A JSON Lines file of about ``megabytes`` MB; returns how many events it holds."""
    padded = {**STATE, "CustomData": "x" * 2000}
    block_lines = [orjson.dumps(padded) for _ in range(99)]
    block_lines.append(orjson.dumps({"session": "agent-2", "events": [START, MUTE, padded]}))
    block = b"\n".join(block_lines) + b"\n"
    repeats = megabytes * 1024 * 1024 // len(block)
    with path.open("wb") as out:
        for _ in range(repeats):
            out.write(block)
    return repeats * 102


def peak_while_reading(path: Path, expected_events: int) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        count = sum(1 for item in read_one(path) if isinstance(item, ReadItem))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == expected_events
    return peak


def test_memory_stays_flat_however_long_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small_events = write_stream(small, 30)
    large_events = write_stream(large, 60)
    assert large.stat().st_size > 1.9 * small.stat().st_size
    items(small)  # warm every cache (cattrs, imports) before anything is traced
    small_peak = peak_while_reading(small, small_events)
    large_peak = peak_while_reading(large, large_events)
    assert small_peak < 5 * 1024 * 1024
    assert large_peak < 5 * 1024 * 1024
    # Twice the input, (almost) the same peak: nothing grows with the file.
    assert large_peak < small_peak * 1.2 + 64 * 1024
