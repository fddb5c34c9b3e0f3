"""``session-fsm serve``: follow many sessions, serve the HTTP API and the wallboard.

The service itself is :mod:`session_fsm.io.service`; this module reads the options,
refuses an unsafe bind, sets up logging on standard error, and runs the loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any, Final, Protocol

import click

from ..errors import SessionFsmError
from ..errors import TokenError as SessionFsmTokenError
from ..io.poll import check_token, token_reader
from ..io.service import ConfigError, Service, ServiceConfig, ServiceError, is_loopback
from ..io.service import load_config as read_config
from ..io.service.app import DEFAULT_MAX_PUSH_BYTES
from ..io.service.hub import DEFAULT_HISTORY_WINDOW_S, DEFAULT_KEEP_CHANGES
from ._common import EXIT_INPUT, Failure, state

# a DNS name (a leading "*." for every subdomain), an IPv4 address, or an IPv6 one in brackets
_HOST_NAME: Final = re.compile(r"(\*\.)?[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")

EXAMPLES = """\b
Examples:
  session-fsm serve --demo                  # simulated agents: open the board it prints
  session-fsm serve --config sessions.toml --state-dir state/ --db day.sqlite
  curl -s localhost:8000/api/sessions | jq '.sessions[].agent_state.state'
  curl -N localhost:8000/api/changes
  curl -H "Authorization: Bearer $(cat state/push-token)" \\
       -H 'Content-Type: application/x-ndjson' --data-binary @day.jsonl \\
       localhost:8000/api/events
"""


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"session-fsm: {self.format(record)}", err=True)
        except Exception:  # pragma: no cover - logging must never break the service
            self.handleError(record)


@click.command("serve", epilog=EXAMPLES)
@click.option("--config", "config_path", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file of the sessions to follow (see the README); without it the "
                   "service only takes pushed events.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Beyond loopback needs --allow-remote and "
                   "--api-token-file.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, printed at start).")
@click.option("--db", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep every polled response's events and histories in the store at PATH.")
@click.option("--state-dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Journal every answer and push here before applying it, and save the "
                   "engine, histories, change log and session ids: a restart, even after a "
                   "crash or SIGKILL, goes on from them.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host beyond loopback (the API then needs --api-token-file).")
@click.option("--api-token-file", metavar="PATH",
              type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the token every API request must carry (Bearer).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (the Host header; repeatable). "
                   "Loopback names and the bound address are always answered; any other "
                   "name is refused, so a rebound DNS name reaches nothing.")
@click.option("--keep-changes", type=click.IntRange(min=1), default=DEFAULT_KEEP_CHANGES,
              show_default=True, metavar="N",
              help="Changes kept for event-stream clients that reconnect.")
@click.option("--history-window", "history_window", type=click.FloatRange(min=1),
              default=DEFAULT_HISTORY_WINDOW_S, show_default=True, metavar="SECONDS",
              help="How long (in the stream's time) a closed contact and an ended agent "
                   "state stay in a session's history in memory; with --db, what is "
                   "older is read from the store, so /history still shows it.")
@click.option("--demo", is_flag=True,
              help="Follow simulated agents, played in real time by a stand-in of "
                   "get-next-event in this process (real polls, no tenant needed): the "
                   "board to try at once.")
@click.option("--agents", type=click.IntRange(1, 10_000), default=12, show_default=True,
              metavar="N", help="With --demo: how many simulated agents.")
@click.option("--seed", type=int, default=1, show_default=True, metavar="S",
              help="With --demo: the simulation's random seed.")
@click.option("--max-push-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_PUSH_BYTES,
              show_default=True, metavar="BYTES",
              help="Largest body POST /api/events reads.")
@click.option("--publish-to", metavar="TOPIC",
              help="Publish every polled answer to this Kafka topic before applying it, "
                   "keyed by session, for `session-fsm stream` processors (needs "
                   "--bootstrap-servers and the kafka extra).")
@click.option("--changes-from-kafka", "changes_topic", metavar="TOPIC",
              help="Follow nothing: serve the API and wallboard from this changes topic "
                   "and --snapshots-from-kafka's, as `session-fsm stream` processors "
                   "write them.")
@click.option("--snapshots-from-kafka", "snapshots_topic", metavar="TOPIC",
              help="With --changes-from-kafka: the processors' snapshots topic.")
@click.option("--bootstrap-servers", "bootstrap", metavar="HOSTS",
              help="Kafka brokers for --publish-to or --changes-from-kafka, "
                   "HOST:PORT[,HOST:PORT...].")
def command(config_path: Path | None, host: str, port: int, db: Path | None,
            state_dir: Path | None, allow_remote: bool, api_token_file: Path | None,
            allowed_hosts: tuple[str, ...], keep_changes: int, history_window: float,
            demo: bool, agents: int,
            seed: int, max_push_bytes: int, publish_to: str | None,
            changes_topic: str | None, snapshots_topic: str | None,
            bootstrap: str | None) -> None:
    """Follow many agent sessions at once; serve their state, histories and changes over
    HTTP, and a live wallboard at /.

    Runs until SIGTERM or Ctrl-C, which stop the polls cleanly and (with --state-dir)
    save everything the next start needs; with --state-dir a crash loses nothing taken
    either. Pushing events needs a token: the --api-token-file one, or one the service
    makes and names at start. Exits 2 when the config, the state or the address cannot
    be used.
    """
    if not is_loopback(host) and not allow_remote:
        raise Failure(f"--host {host} is reachable from other machines: add --allow-remote "
                      "and --api-token-file to serve beyond loopback", EXIT_INPUT)
    if not is_loopback(host) and api_token_file is None:
        raise Failure("--allow-remote needs --api-token-file: the API must not be open "
                      "to the network", EXIT_INPUT)
    api_token = None
    if api_token_file is not None:
        try:
            api_token = check_token(token_reader(api_token_file)(), f" in {api_token_file}",
                                    "-")
        except OSError as error:
            raise Failure(f"cannot read {api_token_file}: {error.strerror or error}",
                          EXIT_INPUT) from None
        except SessionFsmTokenError as error:
            raise Failure(error.detail, EXIT_INPUT) from None
    if demo and config_path is not None:
        raise Failure("--demo follows simulated agents of its own: leave out --config",
                      EXIT_INPUT)
    try:
        config = read_config(config_path) if config_path is not None else ServiceConfig()
    except ConfigError as error:
        raise Failure(str(error), EXIT_INPUT) from None
    for name in allowed_hosts:
        if not _HOST_NAME.fullmatch(name):
            raise Failure(f"--allowed-host {name!r}: expected a host name or address without "
                          "a port (example.com, *.example.com, 10.0.0.5, [::1])", EXIT_INPUT)
    kafka = _kafka_options(publish_to, changes_topic, snapshots_topic, bootstrap,
                           config_path, demo, state_dir, db, keep_changes)
    handler = _StderrHandler(logging.DEBUG if state.debug else logging.INFO)
    loggers = [logging.getLogger(n) for n in ("session_fsm.io.service", "session_fsm.io.client")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(handler.level)

    def service_of(config: ServiceConfig) -> Service:
        def listening(url: str, push_token_file: Path | None) -> None:
            click.echo(f"session-fsm: serving {len(config.sessions)} followed sessions on {url} "
                       f"(wallboard at {url}/)", err=True)
            if demo:
                click.echo("session-fsm: --demo: the sessions are simulated agents, played in "
                           "real time by a stand-in of get-next-event in this process", err=True)
            where = "the --api-token-file" if push_token_file is None else str(push_token_file)
            click.echo(f"session-fsm: POST /api/events needs the token in {where} "
                       "(Authorization: Bearer TOKEN)", err=True)

        options = {"config": config, "host": host, "port": port, "db": db,
                   "state_dir": state_dir, "api_token": api_token,
                   "keep_changes": keep_changes, "allowed_hosts": allowed_hosts,
                   "max_push_bytes": max_push_bytes, "on_listening": listening,
                   "history_window_s": history_window}
        if kafka is not None:
            return kafka(options)
        return Service(**options)  # type: ignore[arg-type]

    try:
        if demo:
            from ..io.service.demo import run_demo

            asyncio.run(run_demo(agents, seed, service_of))
        else:
            asyncio.run(service_of(config).run())
    except (ServiceError, SessionFsmError) as error:
        raise Failure(str(error), EXIT_INPUT) from None
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    click.echo("session-fsm: stopped" + (f"; state saved in {state_dir}" if state_dir else ""),
               err=True)


class _Kafka(Protocol):
    def __call__(self, options: dict[str, Any]) -> Service: ...


def _kafka_options(publish_to: str | None, changes_topic: str | None,
                   snapshots_topic: str | None, bootstrap: str | None,
                   config_path: Path | None, demo: bool, state_dir: Path | None,
                   db: Path | None, keep_changes: int) -> _Kafka | None:
    """What the Kafka options ask for: a service that publishes its answers, or one that
    is a view of the processors' topics (its maker); None without them. Refuses what
    does not go together, and a broker that cannot be reached, before anything starts."""
    if publish_to is None and changes_topic is None and snapshots_topic is None:
        if bootstrap is not None:
            raise Failure("--bootstrap-servers needs --publish-to or --changes-from-kafka",
                          EXIT_INPUT)
        return None
    if bootstrap is None:
        raise Failure("--publish-to and --changes-from-kafka need --bootstrap-servers",
                      EXIT_INPUT)
    if (changes_topic is None) != (snapshots_topic is None):
        raise Failure("--changes-from-kafka and --snapshots-from-kafka go together",
                      EXIT_INPUT)
    if changes_topic is not None:
        others = [name for name, given in (("--config", config_path), ("--demo", demo),
                                           ("--state-dir", state_dir), ("--db", db),
                                           ("--publish-to", publish_to)) if given]
        if others:
            raise Failure(f"--changes-from-kafka serves what processors made: leave out "
                          f"{', '.join(others)}", EXIT_INPUT)
    try:
        from ..io.kafka.client import ResponsePublisher, check_bootstrap

        check_bootstrap(bootstrap)
        if changes_topic is not None and snapshots_topic is not None:
            from ..io.kafka.view import KafkaService, KafkaView

            view = KafkaView(bootstrap, changes_topic, snapshots_topic,
                             keep_changes=keep_changes)
            view.connect()

            def viewing(options: dict[str, Any]) -> Service:
                return KafkaService(view, **options)

            return viewing
        assert publish_to is not None
        publisher = ResponsePublisher(bootstrap, publish_to)
    except SessionFsmError as error:
        raise Failure(str(error), EXIT_INPUT) from None

    def publishing(options: dict[str, Any]) -> Service:
        return Service(**options, publish=lambda key, body: publisher(key, body.line,
                                                                       body.number))

    return publishing
