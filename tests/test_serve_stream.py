"""``/api/changes`` read as clients read it, against the real service on 127.0.0.1.

Simulated days are pushed (the realistic shape: every media, joins, ACW) until the log
holds about 5,000 and then about 57,000 changes; each time the stream is read from id 0,
from the middle, and by 500 clients at once, and every reader must get every id once, in
order, up to the newest. Then a 15 MiB push (a simulated day of 215 agents, about 37,000
events): ``/healthz`` must keep answering within a second while it is applied, and the
push must be applied whole.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import served as service_processes
from served import BOUND_S, Served

from session_fsm.wire.reader import wire_bytes

served = service_processes.served

CLIENTS = 500


def simulated(path: Path, agents: int, minutes: int, seed: int) -> bytes:
    subprocess.run([sys.executable, "-m", "session_fsm", "simulate", "--agents", str(agents),
                    "--seed", str(seed), "--minutes", str(minutes), "--out", str(path)],
                   check=True, capture_output=True, timeout=BOUND_S)
    return path.read_bytes()


def push(service: Served, body: bytes) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {service.push_token()}",
               "Content-Type": "application/x-ndjson"}
    answer = httpx.post(f"{service.url}/api/events", content=body, headers=headers,
                        timeout=BOUND_S * 4, trust_env=False)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def health(service: Served) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{service.url}/healthz", timeout=BOUND_S,
                                      trust_env=False).json()
    return found


async def read_ids(client: httpx.AsyncClient, url: str, after: int, until: int) -> list[int]:
    """The ids of ``/api/changes`` after ``after`` up to ``until`` (events named other than
    a change's are kept as their negative id, so a reset shows)."""
    ids: list[int] = []
    buffer = b""
    async with client.stream("GET", f"{url}/api/changes", headers={"Last-Event-ID": str(after)},
                             timeout=httpx.Timeout(BOUND_S)) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                lines = block.split(b"\n")
                if lines[0].startswith(b":"):
                    continue
                reset = lines[0] == b"event: reset"
                change_id = int(next(x for x in lines if x.startswith(b"id: "))[4:])
                ids.append(-change_id if reset else change_id)
                if change_id >= until:
                    return ids
    return ids


def read_all(url: str, starts: list[int], until: int,
             bound_s: float = BOUND_S * 4) -> list[list[int]]:
    """Every start read by its own client, all at once, within ``bound_s``."""
    async def main() -> list[list[int]]:
        limits = httpx.Limits(max_connections=len(starts))
        async with httpx.AsyncClient(trust_env=False, limits=limits) as client:
            readers = [read_ids(client, url, after, until) for after in starts]
            return list(await asyncio.wait_for(asyncio.gather(*readers), bound_s))
    return asyncio.run(main())


def test_every_reader_gets_every_change_once_in_order(
        tmp_path: Path, served: Callable[..., Served]) -> None:
    service = served()
    # about 5,000 changes: 20 agents for two hours
    first = push(service, simulated(tmp_path / "small.jsonl", 20, 120, seed=5))
    assert first["applied"] > 3_000
    state = health(service)
    oldest, newest = state["oldest_change_id"], state["last_change_id"]
    small = newest - oldest + 1
    assert small >= 5_000
    middle = oldest + small // 2
    (from_start, from_middle) = read_all(service.url, [0, middle], newest)
    assert from_start == list(range(oldest, newest + 1))
    assert from_middle == list(range(middle + 1, newest + 1))
    # 500 clients at once, all from the start
    every = read_all(service.url, [0] * CLIENTS, newest)
    assert all(ids == from_start for ids in every), \
        [len(ids) for ids in every if ids != from_start][:5]

    # over 50,000: a busier center's two hours on top
    push(service, simulated(tmp_path / "big.jsonl", 200, 120, seed=6))
    state = health(service)
    assert state["oldest_change_id"] == oldest  # nothing dropped: 100,000 are kept
    newest = state["last_change_id"]
    assert newest - oldest + 1 >= 50_000
    middle = oldest + (newest - oldest) // 2
    (from_start, from_middle, from_small) = read_all(service.url, [0, middle, oldest + small - 1],
                                                     newest)
    assert from_start == list(range(oldest, newest + 1))
    assert from_middle == list(range(middle + 1, newest + 1))
    assert from_small == list(range(oldest + small, newest + 1))
    # 500 clients at once again, each reading all of them (28 million events in all:
    # about 80 s here, nearly all of it these clients' own parsing)
    every = read_all(service.url, [0] * CLIENTS, newest, bound_s=600)
    assert all(ids == from_start for ids in every), \
        [len(ids) for ids in every if ids != from_start][:5]


def test_a_15_mib_push_leaves_the_service_answering(
        tmp_path: Path, served: Callable[..., Served]) -> None:
    service = served()
    body = simulated(tmp_path / "day.jsonl", 215, 120, seed=8)
    assert 14 * 2**20 < len(body) < 16 * 2**20
    events = sum(1 for _ in wire_bytes(body, "day.jsonl"))
    result: dict[str, Any] = {}
    pushing = threading.Thread(target=lambda: result.update(push(service, body)))
    slowest = 0.0
    checks = 0
    with httpx.Client(base_url=service.url, trust_env=False, timeout=BOUND_S) as http:
        pushing.start()
        while pushing.is_alive() and checks < 2_000:
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            checks += 1
            time.sleep(0.05)
        pushing.join(BOUND_S * 4)
    assert result["applied"] == events
    assert checks >= 5  # the push took long enough for the check to mean something
    assert slowest < 1.0, f"/healthz took {slowest:.2f} s during the push"
