"""``session-fsm history`` for people against ``--json`` on the same input (issue 21).

Both runs do the same reading and folding; what differs is the output: the human one
renders tables, which once took 97% of the run (rich's Table measured every cell: over
two minutes for a 200-agent day against ten seconds for ``--json``). The benchmark runs
the real command in this process, output to the null device as ``> /dev/null`` does,
the JSON run in each round's untimed setup and the human run timed, and reports the
ratio of the best human round to the best JSON round (CPU time, as in
``bench_engine.py``). Human output must stay within 3x of ``--json``.

Sizes: with ``--benchmark-enable`` (or ``BENCH_FULL=1``) the issue's day: 200 agents over
480 minutes (about 130,000 events); under the default ``--benchmark-disable`` one round on
10 agents over 60 minutes, as an ordinary fast test.

Real run::

    .venv/bin/python -m pytest benchmarks/bench_cli_history.py --benchmark-enable -s
"""

from __future__ import annotations

import gc
import os
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from sizes import full_size

from session_fsm.cli import main
from session_fsm.sim import simulate

ROUNDS = 3
MAX_RATIO = 3.0



def history(*args: str) -> float:
    """CPU seconds of one ``session-fsm history ...`` run, its output to the null device."""
    gc.collect()
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        start = time.process_time()
        try:
            main(["history", *args])
        except SystemExit as done:  # main() exits only on failure
            raise AssertionError(f"history exited {done.code}") from None
        return time.process_time() - start


def test_human_history_within_3x_of_json(benchmark: Any, request: pytest.FixtureRequest,
                                         tmp_path: Path) -> None:
    full = full_size(request.config)
    agents, minutes = (200, 480.0) if full else (10, 60.0)
    path = tmp_path / "day.jsonl"
    with path.open("wb") as out:
        summary, _ = simulate(out, agents=agents, seed=1, minutes=minutes)
    human_times: list[float] = []
    json_times: list[float] = []

    def setup() -> None:
        json_times.append(history(str(path), "--json"))

    def timed() -> None:
        human_times.append(history(str(path)))

    benchmark.pedantic(timed, setup=setup, rounds=ROUNDS if full else 1, iterations=1)
    human_s, json_s = min(human_times), min(json_times)
    ratio = human_s / json_s
    benchmark.extra_info.update(events=summary.events, human_s=human_s, json_s=json_s,
                                ratio=ratio)
    print(f"\nbench: history  events={summary.events}  human_s={human_s:.2f}  "
          f"json_s={json_s:.2f}  ratio={ratio:.2f}")
    assert ratio < MAX_RATIO
