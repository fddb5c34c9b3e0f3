"""Benchmarks of ``session-fsm replay``: the local engine and the Dask engine on one archive.

By default the archive is tiny (CI runs these once, as tests, under
``--benchmark-disable``); ``REPLAY_BENCH_AGENTS`` and ``REPLAY_BENCH_MINUTES`` make it
real (about 1.5 events per agent-minute). The README's figures for millions of events
come from the command line, on an archive written by this module::

    python benchmarks/bench_replay.py generate DIR --agents 6000 --minutes 600 --files 8
    /usr/bin/time -v session-fsm replay --engine local DIR/*.jsonl --out /tmp/t-local
    /usr/bin/time -v session-fsm replay --engine dask --workers 2 DIR/*.jsonl --out /tmp/t-dask
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

import pytest

from session_fsm.io.replay import replay_local
from session_fsm.sim import Simulation

AGENTS = int(os.environ.get("REPLAY_BENCH_AGENTS", "40"))
MINUTES = float(os.environ.get("REPLAY_BENCH_MINUTES", "20"))


def write_archive(directory: Path, *, agents: int, minutes: float, files: int,
                  seed: int = 7) -> tuple[list[str], int]:
    """A simulated stream split over ``files`` archives, each holding the sessions one
    recorder followed (by session key), in recording order. Returns (paths, events)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"recorder-{n:02d}.jsonl" for n in range(files)]
    handles = [path.open("wb") for path in paths]
    simulation = Simulation(agents, seed, minutes)
    try:
        for line in simulation.lines():
            key = line.split(b'"', 4)[3]  # every line is {"session":"agent-NNNNN",...}
            handles[zlib.crc32(key) % files].write(line)
    finally:
        for handle in handles:
            handle.close()
    return [str(path) for path in paths], simulation.summary.events


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_archive(tmp_path_factory.mktemp("archive"), agents=AGENTS, minutes=MINUTES,
                         files=3)[0]


def test_replay_local(benchmark, archive: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Replay the archive in one process."""
    summary = benchmark(replay_local, archive, str(tmp_path / "out"))
    assert summary.fold.sessions == AGENTS


def test_replay_dask(benchmark, archive: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Replay the archive on a local Dask cluster of two workers (cluster start included)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from session_fsm.io.replay_dask import replay_dask

    summary = benchmark(replay_dask, archive, str(tmp_path / "out"), workers=2)
    assert summary.fold.sessions == AGENTS


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Write a simulated archive for replay runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    generate = sub.add_parser("generate")
    generate.add_argument("directory", type=Path)
    generate.add_argument("--agents", type=int, default=6000)
    generate.add_argument("--minutes", type=float, default=600)
    generate.add_argument("--files", type=int, default=8)
    generate.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    paths, events = write_archive(args.directory, agents=args.agents, minutes=args.minutes,
                                  files=args.files, seed=args.seed)
    print(f"{events:,} events in {len(paths)} archives under {args.directory}")


if __name__ == "__main__":
    _main(sys.argv[1:])
