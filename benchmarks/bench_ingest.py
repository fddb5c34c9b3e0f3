"""``Store.ingest`` of one long line against the same events one batch per line.

A recorder may write a whole response, or a whole day, as one JSON array on one line;
ingesting it must cost what the same events cost line by line, and grow linearly with
them. Both ratios are measured in the same run, from CPU time (``time.process_time``:
time spent waiting for a busy CPU is not the store's), and shown on a ``bench:`` line
(``-s``) and in each benchmark's ``extra_info``.

Sizes: under the default ``--benchmark-disable`` (CI) the code runs once on 2,000 events;
with ``--benchmark-enable`` (or ``BENCH_FULL=1``) on 40,000, about 15 MB on one line (the
reader's line limit is 16 MiB)::

    .venv/bin/python -m pytest benchmarks/bench_ingest.py --benchmark-enable -s
"""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import orjson
import pytest
from sizes import full_size

from session_fsm.io.store import Store
from session_fsm.sim import simulate

ROUNDS = 3
"""Timed rounds per benchmark when enabled (each into a fresh store)."""



@pytest.fixture(scope="module")
def events(request: pytest.FixtureRequest) -> list[bytes]:
    """The simulated stream's lines (each one keyed event or a keyed batch), about 40,000
    or 2,000 events in all."""
    full = full_size(request.config)
    simulated = io.BytesIO()
    summary, _ = simulate(simulated, agents=400 if full else 40, seed=7,
                          minutes=100.0 if full else 40.0)
    wanted = 40_000 if full else 2_000
    lines, count = [], 0
    for line in simulated.getvalue().splitlines(keepends=True):
        if count >= wanted:
            break
        lines.append(line)
        batch = orjson.loads(line)
        count += len(batch["events"]) if "events" in batch else 1
    assert count >= wanted, summary
    return lines


def _one_line(lines: list[bytes], path: Path) -> Path:
    """The batches of ``lines`` as one JSON array on one line."""
    path.write_bytes(b"[" + b",".join(line.rstrip(b"\n") for line in lines) + b"]\n")
    return path


def _ingest_cpu(path: Path, db: Path) -> float:
    """CPU seconds of one ingest of ``path`` into a new store ``db``."""
    started = time.process_time()
    with Store(db) as store:
        store.ingest([str(path)])
    return time.process_time() - started


def _rounds(benchmark, path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = itertools.count()

    def fresh() -> tuple[tuple[Path, Path], dict[str, object]]:
        return (path, tmp_path / f"round-{next(made)}.sqlite"), {}

    benchmark.pedantic(_ingest_cpu, setup=fresh, rounds=ROUNDS, iterations=1)


def test_ingest_per_line(benchmark, events: list[bytes], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Ingest the events as the simulator writes them, a keyed event or batch per line."""
    path = tmp_path / "per-line.jsonl"
    path.write_bytes(b"".join(events))
    _rounds(benchmark, path, tmp_path)


def test_ingest_one_line(benchmark, events: list[bytes], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Ingest the same events as one JSON array on one line; ratios to per-line and to a quarter."""
    one = _one_line(events, tmp_path / "one.jsonl")
    _rounds(benchmark, one, tmp_path)
    per_line = tmp_path / "per-line.jsonl"
    per_line.write_bytes(b"".join(events))
    quarter = _one_line(events[:len(events) // 4], tmp_path / "quarter.jsonl")
    # best of interleaved rounds: a loaded machine slows a round, never speeds it up
    best: dict[str, float] = {}
    for n in range(ROUNDS):
        for name, path in (("one", one), ("per_line", per_line), ("quarter", quarter)):
            cpu = _ingest_cpu(path, tmp_path / f"ratio-{name}-{n}.sqlite")
            best[name] = min(best.get(name, cpu), cpu)
    one_to_per_line = best["one"] / best["per_line"]
    growth = best["one"] / best["quarter"]  # about 4x the events
    benchmark.extra_info.update(one_line_to_per_line=round(one_to_per_line, 2),
                                four_times_the_events=round(growth, 2))
    print(f"\nbench: one line / per line {one_to_per_line:.2f}x; 4x the events on one line "
          f"{growth:.2f}x the time")
    # generous: timings on a shared machine are noisy; quadratic work gave 9.6x and more
    assert one_to_per_line < 2.5
    assert growth < 8
