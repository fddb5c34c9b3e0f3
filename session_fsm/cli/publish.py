"""``session-fsm publish``: a recording into a Kafka topic, one message per response."""

from __future__ import annotations

import click

from ..errors import InputError, plural
from ._common import FILES, JSON, REPORT_BAD, emit_json, input_failure

EXAMPLES = """\b
Examples:
  session-fsm publish day.jsonl.gz --bootstrap-servers 127.0.0.1:9092 --topic cxone-responses
  session-fsm simulate --agents 200 --seed 7 | \\
      session-fsm publish - --bootstrap-servers kafka:9092 --topic cxone-responses --json
"""

BOOTSTRAP = click.option(
    "--bootstrap-servers", "bootstrap", required=True, metavar="HOSTS",
    help="Kafka brokers to start from, HOST:PORT[,HOST:PORT...].")


@click.command("publish", epilog=EXAMPLES)
@FILES
@BOOTSTRAP
@click.option("--topic", required=True, metavar="T",
              help="The input topic (created with --partitions when missing).")
@click.option("--partitions", type=click.IntRange(min=1), default=4, show_default=True,
              metavar="N", help="Partitions of the topic when this command creates it.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=30.0, show_default=True, metavar="S",
              help="Seconds to wait for the broker to take the messages.")
@JSON
@REPORT_BAD
def command(files: tuple[str, ...], bootstrap: str, topic: str, partitions: int,
            timeout_s: float, as_json: bool, skip_bad: bool) -> None:
    """Publish FILE... (any input shape: events, get-next-event responses, keyed
    envelopes; .gz; - for standard input) to a Kafka topic: one message per response,
    keyed by its session, in the recording's order, each carrying where it came from,
    so `session-fsm stream` makes exactly the changes `session-fsm changes` makes of the
    same recording.

    The producer is idempotent and waits for every message to be acknowledged (acks=all)
    before it exits 0. An unreadable line is published at its place (the processors
    record its violation where `changes` does), named on stderr, and makes the exit 2
    once everything is published (unless --skip-bad).
    """
    from ..io.kafka.client import Publisher, TopicSpec, check_bootstrap, ensure_topics
    from ..io.kafka.messages import recording_messages
    from ..wire.reader import iter_wire
    from ._common import Unreadable, check_inputs, say_empty

    check_inputs(files)
    check_bootstrap(bootstrap)
    ensure_topics(bootstrap, [TopicSpec(topic, partitions)], timeout_s=timeout_s)
    publisher = Publisher(bootstrap, topic, timeout_s=timeout_s)
    unreadable = Unreadable()
    messages = events = 0
    sessions: set[str] = set()
    try:
        items = unreadable.watch(iter_wire(files, on_error="report"))
        for message in recording_messages(items):
            publisher.send(message.key, message.value)
            messages += 1
            events += message.events
            sessions.add(message.key)
    except InputError as error:  # a file that cannot be opened at all
        raise input_failure(error) from None
    finally:
        publisher.wait()  # what was sent is acknowledged (or said to have failed) first
    if not messages:
        say_empty()
    elif as_json:
        emit_json({"topic": topic, "messages": messages, "events": events,
                   "sessions": len(sessions), "unreadable": unreadable.count})
    else:
        click.echo(f"session-fsm: published {plural(messages, 'message')} "
                   f"({plural(events, 'event')}, {plural(len(sessions), 'session')}) "
                   f"to {topic}", err=True)
    unreadable.done(skip_bad)
