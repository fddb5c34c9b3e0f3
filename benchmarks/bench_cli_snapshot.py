"""``session-fsm snapshot --json`` against ``orjson.loads`` of the same lines, as users run it.

Each round runs four child processes one after the other, in one process tree: the
command on the stream, the command on the stream's first line (its start-up: imports,
the native core's kit, one session), a Python that ``orjson.loads`` every line of the
stream, and the same Python on the first line (its start-up). The ratio of a round is
the command's CPU time over the parser's, start-up subtracted from both (CPU time of the
children, ``getrusage``: waiting for a busy CPU is not counted); the benchmark reports
the median and the best of the rounds (on the small stream start-up is most of both, so
the ratio means little there). The engine is whichever the command runs
(``SESSION_FSM_ENGINE`` chooses).

Sizes: with ``--benchmark-enable`` (or ``BENCH_FULL=1``) benchmark 1's stream (2,000
agents over 100 minutes, about 290,000 events) and five rounds; otherwise 40 agents over
20 minutes and one round, as an ordinary test::

    .venv/bin/python -m pytest benchmarks/bench_cli_snapshot.py --benchmark-enable -s
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sizes import full_size

from session_fsm.sim import simulate

PARSE = "import orjson, sys\nfor line in open(sys.argv[1], 'rb'):\n    orjson.loads(line)\n"


def _cpu(args: list[str]) -> float:
    """CPU seconds (user + system) a child process running ``args`` took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_snapshot_json_against_orjson(benchmark: Any, request: pytest.FixtureRequest,
                                      tmp_path: Path) -> None:
    full = full_size(request.config)
    agents, minutes = (2000, 100.0) if full else (40, 20.0)
    stream = tmp_path / "stream.jsonl"
    with stream.open("wb") as out:
        summary, _ = simulate(out, agents=agents, seed=7, minutes=minutes)
    first = tmp_path / "first.jsonl"
    with stream.open("rb") as lines:
        first.write_bytes(lines.readline())
    command = [sys.executable, "-m", "session_fsm", "snapshot", "--json"]
    parse = [sys.executable, "-c", PARSE]
    ratios: list[float] = []

    def one_round() -> None:
        used = _cpu([*command, str(stream)]) - _cpu([*command, str(first)])
        floor = _cpu([*parse, str(stream)]) - _cpu([*parse, str(first)])
        ratios.append(used / floor)

    benchmark.pedantic(one_round, rounds=5 if full else 1, iterations=1)
    engine = subprocess.run([sys.executable, "-m", "session_fsm", "--version"], check=True,
                            capture_output=True, text=True).stdout.strip()
    benchmark.extra_info.update(events=summary.events, median=statistics.median(ratios),
                                best=min(ratios), engine=engine)
    print(f"\nbench: snapshot-json  events={summary.events}  {engine}  "
          f"median={statistics.median(ratios):.2f}x  best={min(ratios):.2f}x  "
          f"rounds={[round(r, 2) for r in ratios]}  (SESSION_FSM_ENGINE="
          f"{os.environ.get('SESSION_FSM_ENGINE', '')})")
    shown = subprocess.run([*command, str(stream)], check=True, capture_output=True,
                           timeout=900).stdout
    assert len(orjson.loads(shown)["sessions"]) == summary.sessions
