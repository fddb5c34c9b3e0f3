"""What a change kept for event-stream clients costs the service, in memory.

The service keeps the last ``--keep-changes`` changes (100,000 by default) as the lines
``changes --json`` prints, so a client that reconnects gets what it missed. Two measures,
on the change lines of simulated days (every media, joins, ACW):

- in one process, ``tracemalloc``: the packed :class:`ChangeLog` against the first
  version's ``deque`` of ``(id, bytes)`` tuples holding the same lines;
- the real service (``session-fsm serve`` on 127.0.0.1), resident memory (VmRSS) after
  the same simulated day is pushed, once keeping every change and once keeping one: the
  difference, per kept change, is what the README states.

Sizes: under the default ``--benchmark-disable`` (CI) about 10,000 changes, as a fast
test; with ``--benchmark-enable`` (or ``BENCH_FULL=1``) about 100,000::

    .venv/bin/python -m pytest benchmarks/bench_change_log.py --benchmark-enable -s
"""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import pytest
from sizes import full_size

from session_fsm.io.service.changelog import ChangeLog

BOUND_S = 180.0



def _day(tmp_path: Path, full: bool) -> tuple[Path, list[bytes]]:
    """A simulated day (350 agents for two hours: about 100,000 changes; 35 in CI) and
    its change lines."""
    day = tmp_path / "day.jsonl"
    subprocess.run([sys.executable, "-m", "session_fsm", "simulate", "--agents",
                    "350" if full else "35", "--seed", "11", "--minutes", "120",
                    "--out", str(day)], check=True, capture_output=True, timeout=BOUND_S)
    lines = subprocess.run([sys.executable, "-m", "session_fsm", "changes", str(day),
                            "--json"], check=True, capture_output=True, timeout=BOUND_S)
    return day, lines.stdout.splitlines()


def _held_bytes(build: Any) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        held = build()
        gc.collect()
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, held


def test_a_kept_change_costs_its_line(request: pytest.FixtureRequest, tmp_path: Path,
                                      benchmark: Any) -> None:
    """Bytes per kept change: packed log against a deque of (id, bytes) tuples."""
    _, lines = _day(tmp_path, full_size(request.config))
    # each line a fresh bytes object, as the service makes one per change (orjson.dumps)
    texts = [bytearray(line) for line in lines]

    def packed() -> ChangeLog:
        log = ChangeLog(len(texts), next_id=1)
        for text in texts:
            log.append(bytes(text))
        return log

    def tuples() -> deque[tuple[int, bytes]]:
        return deque(((n, bytes(text)) for n, text in enumerate(texts, 1)), maxlen=len(texts))

    packed_size, log = _held_bytes(packed)
    tuple_size, _ = _held_bytes(tuples)
    line_bytes = sum(len(line) for line in lines) / len(lines)
    per_packed, per_tuple = packed_size / len(lines), tuple_size / len(lines)
    print(f"\nbench: {len(lines):,} changes, line {line_bytes:.0f} B: packed "
          f"{per_packed:.0f} B/change, deque of tuples {per_tuple:.0f} B/change")
    benchmark.extra_info.update(changes=len(lines), line_bytes=round(line_bytes),
                                packed_bytes=round(per_packed), tuple_bytes=round(per_tuple))
    benchmark.pedantic(lambda: list(log.lines(1, 1_001)), rounds=3)
    # the line, four bytes of offset, and the open block's objects (at most 1,023 lines
    # of Python bytes, about 33 B each) spread over the whole log
    assert per_packed < line_bytes + 4 + 1_024 * 40 / len(lines) + 1
    assert per_tuple > per_packed + 60  # what packing saves: a tuple, an int, a bytes header


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found
    return int(found[1])


def _service_rss(tmp_path: Path, day: Path, keep: int) -> tuple[int, int]:
    """Resident KiB of a service that took ``day`` keeping ``keep`` changes, and the
    changes it published."""
    log = tmp_path / f"serve-{keep}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "session_fsm", "serve", "--port", "0", "--keep-changes",
             str(keep)], stdout=subprocess.DEVNULL, stderr=sink,
            env={**os.environ, "NO_PROXY": "*"})
    try:
        deadline = time.monotonic() + BOUND_S
        while not (token := re.search(r"needs the token in (\S+) ", log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = re.search(r" on (http://\S+) ", log.read_text())
        assert url
        headers = {"Authorization": f"Bearer {Path(token[1]).read_text().strip()}",
                   "Content-Type": "application/x-ndjson"}
        with httpx.Client(base_url=url[1], trust_env=False, timeout=BOUND_S) as http:
            lines = day.read_bytes().splitlines()
            for start in range(0, len(lines), 20_000):  # under the 16 MiB push limit
                answer = http.post("/api/events", headers=headers,
                                   content=b"\n".join(lines[start:start + 20_000]))
                assert answer.status_code == 200, answer.text
            health = http.get("/healthz").json()
        time.sleep(0.5)
        return _rss_kib(process.pid), health["last_change_id"] - health["oldest_change_id"] + 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=BOUND_S)


def test_the_services_memory_per_kept_change(request: pytest.FixtureRequest,
                                             tmp_path: Path, benchmark: Any) -> None:
    """Resident memory of the service keeping every change against keeping one."""
    day, lines = _day(tmp_path, full_size(request.config))
    keeping_all, kept = _service_rss(tmp_path, day, len(lines) + 1)
    keeping_one, one = _service_rss(tmp_path, day, 1)
    assert (kept, one) == (len(lines), 1)
    per_change = (keeping_all - keeping_one) * 1024 / kept
    print(f"\nbench: service RSS keeping {kept:,} changes {keeping_all / 1024:.0f} MiB, "
          f"keeping 1 {keeping_one / 1024:.0f} MiB: {per_change:.0f} B per kept change")
    benchmark.extra_info.update(changes=kept, rss_all_kib=keeping_all,
                                rss_one_kib=keeping_one, bytes_per_change=round(per_change))
    benchmark.pedantic(lambda: None, rounds=1)
