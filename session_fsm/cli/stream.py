"""``session-fsm stream``: a Quix Streams processor of the engine, any number in a group."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import plural
from ._common import JSON, emit_json, state

EXAMPLES = """\b
Examples:
  session-fsm stream --bootstrap-servers kafka:9092 --input-topic cxone-responses \\
      --changes-topic cxone-changes --snapshots-topic cxone-snapshots
  session-fsm stream ... --group wallboard --state-dir /var/lib/session-fsm/p1
  session-fsm stream ... --at-least-once      # a broker without transactions
"""


@click.command("stream", epilog=EXAMPLES)
@click.option("--bootstrap-servers", "bootstrap", required=True, metavar="HOSTS",
              help="Kafka brokers to start from, HOST:PORT[,HOST:PORT...].")
@click.option("--input-topic", required=True, metavar="T",
              help="The responses `publish` (or --publish-to) wrote, keyed by session.")
@click.option("--changes-topic", required=True, metavar="C",
              help="Where each input message's changes go: one record per change, its "
                   "`changes --json` line, keyed by session.")
@click.option("--snapshots-topic", metavar="S",
              help="Where each session's latest snapshot goes (a compacted topic).")
@click.option("--group", default="session-fsm", show_default=True, metavar="G",
              help="The consumer group: processors of one group share the sessions.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("state"), show_default=True, metavar="DIR",
              help="This processor's own state store and id: restart it with the same one.")
@click.option("--at-least-once", is_flag=True,
              help="For brokers without transactions: the state stays right, a change may "
                   "be produced twice after a crash (the same session-fsm-change header).")
@click.option("--partitions", type=click.IntRange(min=1), default=4, show_default=True,
              metavar="N", help="Partitions of the input topic if this creates it (the "
                                "output topics get the input's count).")
@click.option("--commit-interval", "commit_interval_s", default=1.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Seconds between checkpoints (one transaction each): the latency of "
                   "read_committed readers, against the cost of a commit.")
@click.option("--stop-after-idle", "stop_after_idle_s", default=0.0,
              type=click.FloatRange(min=0), metavar="S",
              help="Stop once no message came for S seconds (default: run until SIGTERM).")
@JSON
def command(bootstrap: str, input_topic: str, changes_topic: str,
            snapshots_topic: str | None, group: str, state_dir: Path, at_least_once: bool,
            partitions: int, commit_interval_s: float, stop_after_idle_s: float,
            as_json: bool) -> None:
    """Process the input topic with the engine: each input message's session state is
    kept in Quix Streams state (RocksDB and a changelog topic), its changes go to the
    changes topic and, with --snapshots-topic, its snapshot to a compacted topic.

    Exactly once by default (Kafka transactions): a processor killed at any point and
    restarted, or whose partitions move to another, leaves the same committed output as
    one uninterrupted run. Runs until SIGTERM or Ctrl-C, which finish the checkpoint in
    hand and exit 0. Kafka settings: see the README, "Scale-out on Kafka".
    """
    from ..io.kafka.client import check_bootstrap
    from ..io.kafka.processor import StreamConfig, run

    check_bootstrap(bootstrap)
    if (snapshots_topic is not None and snapshots_topic in (input_topic, changes_topic)) \
            or changes_topic == input_topic:
        raise click.UsageError("the input, changes and snapshots topics must be three topics")
    stats = run(StreamConfig(
        bootstrap=bootstrap, input_topic=input_topic, changes_topic=changes_topic,
        snapshots_topic=snapshots_topic, group=group,
        guarantee="at-least-once" if at_least_once else "exactly-once",
        state_dir=state_dir, partitions=partitions, commit_interval_s=commit_interval_s,
        stop_after_idle_s=stop_after_idle_s, debug=state.debug))
    rate = stats.events_per_s
    if as_json:
        emit_json({"messages": stats.messages, "events": stats.events,
                   "busy_s": round(stats.busy_s, 3),
                   "events_per_s": None if rate is None else round(rate, 1)})
    speed = "" if rate is None else f", {rate:,.0f} events/s while busy"
    click.echo(f"session-fsm: stopped after {plural(stats.messages, 'message')} "
               f"({plural(stats.events, 'event')}{speed})", err=True)
