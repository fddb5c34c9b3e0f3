"""benchmarks/compare_engines.py, the README's way to compare two versions, still runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from session_fsm.engine import SessionEngine
from session_fsm.engine.changes import Change
from session_fsm.sim import simulate
from session_fsm.wire.reader import ReadError, iter_wire

ROOT = Path(__file__).resolve().parent.parent


def test_two_copies_of_this_engine_compare_round_by_round(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    with stream.open("wb") as out:
        simulate(out, agents=2, seed=5, minutes=20.0)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_engines.py"), str(ROOT),
         str(stream), "--rounds", "2"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^round \d: floor [\d.]+ s, other [\d.]+ s, this [\d.]+ s$",
                          done.stdout, re.MULTILINE)) == 2
    assert re.search(r"^this / other, per round: median [\d.]+, quartiles [\d.]+ to [\d.]+ "
                     r"\(2 rounds\)$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^other: best round [\d.]+ s = [\d.]+x the best floor$", done.stdout,
                     re.MULTILINE)


def test_a_checkout_without_the_package_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_engines.py"), str(tmp_path),
         str(tmp_path / "none.jsonl")],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"{tmp_path} has no session_fsm package" in done.stderr


def test_with_history_each_engine_folds_the_change_stream(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    with stream.open("wb") as out:
        simulate(out, agents=2, seed=5, minutes=20.0)
    spec = importlib.util.spec_from_file_location(
        "compare_engines", ROOT / "benchmarks" / "compare_engines.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    folds: list[list[Change]] = []  # what each fold made for the run was handed

    class CountingFold:  # stands for HistoryFold: one per run, subscribed
        def __init__(self) -> None:
            self.seen: list[Change] = []
            folds.append(self.seen)

        def apply(self, change: Change) -> None:
            self.seen.append(change)

    module.end_to_end(SessionEngine, iter_wire, str(stream), CountingFold)
    # what the fold was handed is the whole change stream of the same input, fed again
    engine = SessionEngine()
    expected: list[Change] = []
    for item in iter_wire([stream]):
        assert not isinstance(item, ReadError), item
        key, wire, source = item
        expected.extend(engine.feed(wire, key=key, source=source, batch=source))
    expected.extend(engine.finish())
    assert len(folds) == 1
    assert folds[0] == expected
    assert len(expected) > 100

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_engines.py"), str(ROOT),
         str(stream), "--rounds", "1", "--history"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^this / other, per round: median [\d.]+ \(1 rounds\)$", done.stdout,
                     re.MULTILINE), done.stdout
