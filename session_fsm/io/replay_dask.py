"""The Dask run of ``session-fsm replay``: the same stages as the local run, spread over a cluster.

Imported only for ``--engine dask``, so the default install never needs Dask. Each
archive is staged by one task (:func:`~session_fsm.io.replay.stage_archive`); the staged
Parquet parts, with the previous chunk's open sessions, are read as one Dask DataFrame,
``shuffle``\\ d by session key so that every session lands whole in one partition, and
``map_partitions`` folds each partition with :func:`~session_fsm.io.replay.fold_table`,
which sorts its rows and writes that partition's part of every table. Folding needs a
session's events in order, one after the other: a per-partition sort after a shuffle
moves each row once, where ``groupby().apply`` would build a frame per session.

On a real cluster (``--scheduler tcp://host:8786``) the workers need session_fsm
installed, and the archives, ``--out`` and ``--checkpoint-dir`` must be at the same path
on every worker (a shared file system): the tasks read and write them there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, Final

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from distributed import Client, LocalCluster, as_completed

from .replay import (
    EVENT_SCHEMA,
    ROWS_PER_PARTITION,
    FoldOptions,
    FoldSummary,
    ReplayError,
    ReplaySummary,
    StageResult,
    chunk_inputs,
    finish_run,
    fold_table,
    stage_archive,
    start_run,
)

__all__ = ["replay_dask"]

_SUMMARY_META: Final = pd.DataFrame({
    "summary": pd.Series([], dtype=object),
})


def _fold_partition(frame: pd.DataFrame, options: FoldOptions,
                    partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """map_partitions' function: fold one partition, write its parts, return its counts."""
    number = partition_info["number"] if partition_info is not None else 0
    table = pa.Table.from_pandas(frame, preserve_index=False)
    summary = fold_table(table, number, options)
    return pd.DataFrame({"summary": [summary]})


def replay_dask(archives: Sequence[str], out_dir: str, *, scheduler: str | None = None,
                workers: int | None = None, checkpoint_dir: str | None = None,
                last_chunk: bool = False, partitions: int | None = None,
                progress: Callable[[str], None] | None = None) -> ReplaySummary:
    """Replay ``archives`` on a Dask cluster: ``scheduler``'s, or a LocalCluster of
    ``workers`` processes (one thread each: the engine is pure Python)."""
    say = progress or (lambda message: None)
    store, staging = start_run(archives, out_dir, checkpoint_dir)
    with ExitStack() as stack:
        client = stack.enter_context(_client(scheduler, workers, say))
        futures = [client.submit(stage_archive, archive, number, staging, pure=False)
                   for number, archive in enumerate(archives)]
        results: list[StageResult] = []
        for future in as_completed(futures):
            results.append(future.result())
            say(f"staged {len(results)}/{len(archives)} archives "
                f"({sum(r.events for r in results):,} events)")
        results.sort(key=lambda result: archives.index(result.archive))
        parts, options = chunk_inputs(sorted(part for result in results for part in result.parts),
                                      store, out_dir, last_chunk)
        rows = sum(result.events + result.unreadable_count for result in results)
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        count = partitions or max(2 * n_workers, math.ceil(rows / ROWS_PER_PARTITION))
        fold = _fold(client, parts, options, count, say)
    unreadable = finish_run(store, archives, options, staging, results)
    return ReplaySummary("dask", len(archives), fold, count, unreadable)


def _fold(client: Client, parts: list[str], options: FoldOptions, count: int,
          say: Callable[[str], None]) -> FoldSummary:
    if parts:
        events = dd.read_parquet(parts)
    else:  # nothing at all to replay: still one (empty) partition of every table
        events = dd.from_pandas(EVENT_SCHEMA.empty_table().to_pandas(), npartitions=1)
    shuffled = events.shuffle(on="session", npartitions=count)
    folded = shuffled.map_partitions(_fold_partition, options, meta=_SUMMARY_META)
    futures = client.compute(folded.to_delayed())
    total = FoldSummary()
    for done, future in enumerate(as_completed(futures), 1):
        frame = future.result()
        for summary in frame["summary"]:
            total = total + summary
        say(f"folded {done}/{len(futures)} partitions ({total.events:,} events)")
    return total


class _client:  # noqa: N801 - used like a function, as a context manager
    """A Client of ``scheduler``, or of a LocalCluster started (and stopped) here."""

    def __init__(self, scheduler: str | None, workers: int | None,
                 say: Callable[[str], None]) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.say = say
        self.stack = ExitStack()

    def __enter__(self) -> Client:
        # The p2p shuffle logs its start and end as warnings: progress says enough.
        logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
        try:
            if self.scheduler is not None:
                self.say(f"connecting to {self.scheduler}")
                client = Client(self.scheduler, timeout="30s")
            else:
                cluster = self.stack.enter_context(LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR))
                client = Client(cluster)
        except OSError as error:
            self.stack.close()
            where = self.scheduler or "a local cluster"
            raise ReplayError(f"cannot reach {where}: {error}") from None
        self.stack.enter_context(client)
        return client

    def __exit__(self, *exc: object) -> None:
        self.stack.close()
