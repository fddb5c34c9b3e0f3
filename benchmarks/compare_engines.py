"""Two versions of the engine end to end on the same lines, in one process, round by round.

On a shared machine CPU time moves by tens of percent between runs minutes apart, so two
versions timed in separate runs are not comparable. This script loads another checkout's
``session_fsm`` under the package name ``session_fsm_other`` (the package imports itself
relatively, so a copy under another name is a second, independent package) next to this
one, and times in each round: the floor (``orjson.loads`` of every line and a walk over
its events), the other engine and this one (their order alternating), and the floor
again. Each engine runs reader + ``feed`` + ``finish()`` + ``snapshot()``, benchmark 1 of
``bench_engine.py``. It prints each round, then the median and quartiles of the per-round
ratio this / other, and the best rounds against the best floor.

    git worktree add /tmp/old a7264ed
    .venv/bin/python benchmarks/compare_engines.py /tmp/old stream.jsonl --rounds 21

With ``--history`` each engine keeps contact histories and agent timelines: this one
through a subscribed ``HistoryFold``, as does the other if it has one; an engine from
before the change stream (``a7264ed``) kept them itself, so this compares like with like.

(The README's "The cost of saying what happened" was measured with it.)
"""

from __future__ import annotations

import argparse
import gc
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

OTHER = "session_fsm_other"


def load_other(checkout: Path, into: Path) -> tuple[Any, Callable[..., Any], Any]:
    """The other checkout's ``SessionEngine``, ``iter_wire`` and ``HistoryFold`` (None
    for a version whose engine kept history itself), under :data:`OTHER`."""
    shutil.copytree(checkout / "session_fsm", into / OTHER,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    sys.path.insert(0, str(into))
    engine = importlib.import_module(f"{OTHER}.engine")
    try:  # the package layout of the change stream, or the flat one before it
        reader = importlib.import_module(f"{OTHER}.wire.reader")
    except ImportError:
        reader = importlib.import_module(f"{OTHER}.reader")
    try:
        fold = importlib.import_module(f"{OTHER}.views.history").HistoryFold
    except ImportError:
        fold = None
    return engine.SessionEngine, reader.iter_wire, fold


def floor(path: str) -> int:
    events = 0
    with open(path, "rb") as lines:
        for line in lines:
            value = orjson.loads(line)
            events += len(value["events"]) if type(value) is dict and "events" in value else 1
    return events


def end_to_end(engine_type: Any, iter_wire: Callable[..., Any], path: str,
               fold_type: Any = None) -> None:
    engine = engine_type()
    if fold_type is not None:  # history kept, by a fold of the change stream
        engine.subscribe(fold_type().apply)
    feed = engine.feed
    for key, wire, source in iter_wire([path]):
        feed(wire, key=key, source=source, batch=source)
    engine.finish()
    engine.snapshot()


def cpu(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.process_time()
    run()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("other", type=Path, help="a checkout of another version (its root)")
    parser.add_argument("stream", help="a JSON Lines file of events")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--history", action="store_true",
                        help="keep history: subscribe a HistoryFold to each engine that has "
                        "one (an engine from before the change stream kept it itself)")
    args = parser.parse_args(argv)
    if not (args.other / "session_fsm").is_dir():
        parser.error(f"{args.other} has no session_fsm package")

    from session_fsm.engine import SessionEngine
    from session_fsm.views.history import HistoryFold
    from session_fsm.wire.reader import iter_wire

    with tempfile.TemporaryDirectory() as scratch:
        other_engine, other_wire, other_fold = load_other(args.other, Path(scratch))
        this_fold = HistoryFold if args.history else None
        other_fold = other_fold if args.history else None
        versions = {
            "other": lambda: end_to_end(other_engine, other_wire, args.stream, other_fold),
            "this": lambda: end_to_end(SessionEngine, iter_wire, args.stream, this_fold),
        }
        floors: list[float] = []
        times: dict[str, list[float]] = {"other": [], "this": []}
        for round_ in range(args.rounds):
            before = cpu(lambda: floor(args.stream))
            order = ["other", "this"] if round_ % 2 == 0 else ["this", "other"]
            for name in order:
                times[name].append(cpu(versions[name]))
            floors.append(min(before, cpu(lambda: floor(args.stream))))
            print(f"round {round_ + 1}: floor {floors[-1]:.3f} s, other "
                  f"{times['other'][-1]:.3f} s, this {times['this'][-1]:.3f} s", flush=True)

    ratios = [this / other for this, other in zip(times["this"], times["other"], strict=True)]
    best_floor = min(floors)
    print(f"this / other, per round: median {statistics.median(ratios):.3f}", end="")
    if len(ratios) >= 2:
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f", quartiles {low:.3f} to {high:.3f}", end="")
    print(f" ({len(ratios)} rounds)")
    for name in ("other", "this"):
        best = min(times[name])
        print(f"{name}: best round {best:.3f} s = {best / best_floor:.2f}x the best floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
