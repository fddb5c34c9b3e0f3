"""Standard contact-center metrics over replay's tables or a store, computed by DuckDB.

Theory of operation. Both sources become the same two relations in an in-process DuckDB
database: ``contacts`` (replay's ``contacts`` table, one row per contact, see
:mod:`session_fsm.views.contacts`) and ``agent_states`` (one row per agent-state
interval). Replay's Parquet parts are read where they lie (``read_parquet``); a store's
rows are read through Python's ``sqlite3`` (DuckDB's own SQLite scanner is an extension
it would download) into Arrow tables of replay's schemas, registered with DuckDB. The
metrics are then one SQL query each, the same for both sources, so the same day gives
the same figures from either (a test checks it).

The metrics, in the industry's usual terms (the README's "Reporting" lists them too):

- *Customer contacts* are every contact but consult calls (``CallType`` ``Consult``:
  their time is already the held contact's) and a supervisor's own legs. *Inbound*
  ones are those the wire does not mark ``IsInbound False`` (work items, chats and
  voicemails carry no direction: they come in).
- ``offered``: inbound customer contacts presented to the agent, split by their outcome
  into ``handled`` (answered), ``abandoned`` (the caller hung up while it was offered,
  ringing, at the agent: ``DisconnectCode`` ``CallAbandoned``), ``missed`` (ended
  unanswered otherwise), ``refused`` (the agent declined it or let it time out),
  ``unknown`` (first seen past its start, by a join, and ended unanswered: the stream
  does not say whether it rang) and ``open_at_end`` (not closed when the input ended), so
  that offered = handled + abandoned + missed + refused + unknown + open_at_end on every
  row; ``abandon_rate`` abandoned / offered.
  ``outbound``: outbound customer contacts; ``outbound_connected``: those answered.
  ``consults``: consult calls.
- Times over *handled* customer contacts (inbound and outbound), average and longest:
  ``ring`` (offered to answered at the agent), ``talk``, ``hold``, ``acw`` and
  ``handle``: the contacts table's ``acw_s`` and ``handle_time_s``, as the history
  counts them (``views/history.py``: ACW is the agent's ACW that belongs to the contact,
  else its own ACW phase; handle time is first answer to the voice's end plus that
  ACW). A handled contact without after-call work counts 0 s of ACW, so average handle
  = average talk + hold + ACW when nothing else happened in between.
- Per agent, from the agent-state intervals of known length: ``logged_in_s`` (every
  state but LoggedOut), ``available_s`` (Available, Dialer, DialerPending: waiting for
  work), ``occupied_s`` (InboundContact, OutboundContact, InboundConsult,
  OutboundConsult, and every ACW interval), ``acw_s``, ``unavailable_s`` (Unavailable
  that is no ACW, and Refused), and ``occupancy`` = occupied / (occupied + available);
  time per state and per out reason (an interval still going on when the input ended
  has no length, and counts nowhere).

Groups: ``skill``, ``agent`` (the agent id, else the session key), ``hour`` and ``day``
(of the contact's first step, UTC). A contact without a skill or a start time is in the
group ``(none)``. The agent section is always per agent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import duckdb
import pyarrow as pa

from ..errors import ReportError, StoreError
from .replay import TABLES
from .store import Store

__all__ = [
    "AGENT_COLUMNS",
    "BY",
    "CONTACT_METRICS",
    "IDLE_STATES",
    "OCCUPIED_STATES",
    "Analytics",
    "Report",
    "ReportError",
    "open_source",
]

BY: Final = ("skill", "agent", "hour", "day")
"""The groupings ``report --by`` offers."""

OCCUPIED_STATES: Final = ("InboundContact", "OutboundContact", "InboundConsult",
                          "OutboundConsult")
"""Agent states spent on a contact (every ACW interval counts too)."""
IDLE_STATES: Final = ("Available", "Dialer", "DialerPending")
"""Agent states spent waiting for work."""

CONTACT_METRICS: Final = (
    "contacts", "offered", "handled", "abandoned", "missed", "refused", "unknown",
    "open_at_end", "abandon_rate",
    "outbound", "outbound_connected", "consults",
    "ring_avg_s", "ring_max_s", "talk_avg_s", "talk_max_s", "hold_avg_s", "hold_max_s",
    "acw_avg_s", "acw_max_s", "handle_avg_s", "handle_max_s",
)
"""The columns of a group's row after ``group``."""
AGENT_COLUMNS: Final = ("logged_in_s", "available_s", "occupied_s", "acw_s",
                        "unavailable_s", "occupancy")
"""The columns of an agent's row after ``agent``."""

_GROUPS: Final[Mapping[str, str]] = {
    "skill": "coalesce(skill, '(none)')",
    "agent": "coalesce(agent_id, session)",
    "hour": "coalesce(strftime(started, '%Y-%m-%dT%H:00Z'), '(none)')",
    "day": "coalesce(strftime(started, '%Y-%m-%d'), '(none)')",
}

_CONTACTS_SQL: Final = """
WITH c AS (
    SELECT *, {group} AS grp,
           media <> 'supervisor' AND coalesce(call_type, '') <> 'Consult' AS customer,
           is_inbound IS DISTINCT FROM false AS inbound
    FROM contacts
), h AS (SELECT * FROM c WHERE customer AND outcome = 'handled')
SELECT g.grp AS "group", g.* EXCLUDE (grp), t.* EXCLUDE (grp)
FROM (
    SELECT grp,
           count(*) FILTER (customer) AS contacts,
           count(*) FILTER (customer AND inbound) AS offered,
           count(*) FILTER (customer AND inbound AND outcome = 'handled') AS handled,
           count(*) FILTER (customer AND inbound AND outcome = 'abandoned') AS abandoned,
           count(*) FILTER (customer AND inbound AND outcome = 'missed') AS missed,
           count(*) FILTER (customer AND inbound AND outcome = 'refused') AS refused,
           count(*) FILTER (customer AND inbound AND outcome = 'unknown') AS unknown,
           count(*) FILTER (customer AND inbound AND outcome = 'open') AS open_at_end,
           abandoned / nullif(offered, 0) AS abandon_rate,
           count(*) FILTER (customer AND NOT inbound) AS outbound,
           count(*) FILTER (customer AND NOT inbound AND outcome = 'handled')
               AS outbound_connected,
           count(*) FILTER (coalesce(call_type, '') = 'Consult') AS consults
    FROM c GROUP BY {grouping}
) g LEFT JOIN (
    SELECT grp,
           avg(ring_s) AS ring_avg_s, max(ring_s) AS ring_max_s,
           avg(talk_s) AS talk_avg_s, max(talk_s) AS talk_max_s,
           avg(hold_s) AS hold_avg_s, max(hold_s) AS hold_max_s,
           avg(coalesce(acw_s, 0)) AS acw_avg_s, max(coalesce(acw_s, 0)) AS acw_max_s,
           avg(handle_time_s) AS handle_avg_s, max(handle_time_s) AS handle_max_s
    FROM h GROUP BY {grouping}
) t ON g.grp IS NOT DISTINCT FROM t.grp
ORDER BY g.grp
"""

_AGENTS_SQL: Final = """
SELECT coalesce(agent_id, session) AS agent,
       coalesce(sum(duration_s) FILTER (state <> 'LoggedOut'), 0) AS logged_in_s,
       coalesce(sum(duration_s) FILTER (state IN {idle} AND NOT is_acw), 0) AS available_s,
       coalesce(sum(duration_s) FILTER (state IN {occupied} OR is_acw), 0) AS occupied_s,
       coalesce(sum(duration_s) FILTER (is_acw), 0) AS acw_s,
       coalesce(sum(duration_s) FILTER ((state = 'Unavailable' AND NOT is_acw)
                                        OR state = 'Refused'), 0) AS unavailable_s,
       occupied_s / nullif(occupied_s + available_s, 0) AS occupancy
FROM agent_states GROUP BY agent ORDER BY agent
"""

_STATES_SQL: Final = """
SELECT coalesce(agent_id, session) AS agent, state, out_reason, is_acw,
       count(*) AS intervals, sum(duration_s) AS seconds
FROM agent_states WHERE duration_s IS NOT NULL
GROUP BY ALL ORDER BY agent, seconds DESC, state, out_reason, is_acw
"""

_TIMELINE_SQL: Final = """
WITH chosen AS (
    SELECT DISTINCT coalesce(agent_id, session) AS agent FROM agent_states
    ORDER BY agent LIMIT {limit}
)
SELECT coalesce(agent_id, session) AS agent, state, out_reason, is_acw, started, ended
FROM agent_states
WHERE coalesce(agent_id, session) IN (SELECT agent FROM chosen)
  AND started IS NOT NULL AND ended IS NOT NULL AND state <> 'LoggedOut'
ORDER BY agent, started
"""

_HOURLY_SQL: Final = """
SELECT date_trunc('hour', started) AS hour,
       count(*) FILTER (outcome = 'handled') AS handled,
       count(*) FILTER (outcome = 'abandoned') AS abandoned,
       count(*) FILTER (outcome IN ('missed', 'refused')) AS missed_or_refused,
       count(*) FILTER (outcome NOT IN ('handled', 'abandoned', 'missed', 'refused'))
           AS other
FROM contacts
WHERE started IS NOT NULL AND media <> 'supervisor' AND coalesce(call_type, '') <> 'Consult'
GROUP BY hour ORDER BY hour
"""


@attrs.frozen(slots=True)
class Report:
    """The metrics of one source: a row per group, the total, a row per agent, and the
    agents' time per state and out reason."""

    source: str
    by: str
    groups: tuple[dict[str, Any], ...]
    total: dict[str, Any]
    agents: tuple[dict[str, Any], ...]
    states: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "by": self.by, "groups": list(self.groups),
                "total": self.total, "agents": list(self.agents),
                "states": list(self.states)}

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One table: a row per group (then the total, group ``all``); grouped by agent,
        each row also has the agent's time columns."""
        columns = ["group", *CONTACT_METRICS]
        by_agent = {a["agent"]: a for a in self.agents} if self.by == "agent" else None
        if by_agent is not None:
            columns += AGENT_COLUMNS
        rows = []
        for group in (*self.groups, self.total):
            row = [group[c] for c in ("group", *CONTACT_METRICS)]
            if by_agent is not None:
                agent = by_agent.get(group["group"], {})
                row += [agent.get(c) for c in AGENT_COLUMNS]
            rows.append(row)
        return columns, rows


class Analytics:
    """A DuckDB database holding one source's ``contacts`` and ``agent_states``."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, source: str) -> None:
        self.db = connection
        self.source = source

    def _query(self, sql: str) -> list[dict[str, Any]]:
        try:
            relation = self.db.execute(sql)
            names = [d[0] for d in relation.description or ()]
            return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
        except duckdb.Error as error:  # a damaged part file shows only when read
            raise ReportError(self.source, _first_line(error)) from None

    def contact_metrics(self, by: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A row per group of ``by`` and the total (group ``all``)."""
        group = _GROUPS[by]
        rows = [_clean(r) for r in self._query(
            _CONTACTS_SQL.format(group=group, grouping="grp"))]
        total, = (_clean(r) for r in self._query(
            _CONTACTS_SQL.format(group="'all'", grouping="grp")) or [_empty_total()])
        return rows, total

    def agent_metrics(self) -> list[dict[str, Any]]:
        return [_clean(r) for r in self._query(_AGENTS_SQL.format(
            idle=_sql_list(IDLE_STATES), occupied=_sql_list(OCCUPIED_STATES)))]

    def state_times(self) -> list[dict[str, Any]]:
        return [_clean(r) for r in self._query(_STATES_SQL)]

    def timeline(self, agents: int) -> list[dict[str, Any]]:
        """Every finished interval (LoggedOut left out) of the first ``agents`` agents in
        the order of their ids, in time order."""
        return self._query(_TIMELINE_SQL.format(limit=int(agents)))

    def agent_count(self) -> int:
        found = self._query("SELECT count(DISTINCT coalesce(agent_id, session)) AS n "
                            "FROM agent_states")
        return int(found[0]["n"])

    def hourly(self) -> list[dict[str, Any]]:
        """Customer contacts per hour of their start, by outcome."""
        return self._query(_HOURLY_SQL)

    def report(self, by: str) -> Report:
        groups, total = self.contact_metrics(by)
        return Report(self.source, by, tuple(groups), total, tuple(self.agent_metrics()),
                      tuple(self.state_times()))

    def close(self) -> None:
        self.db.close()


def _empty_total() -> dict[str, Any]:
    return {"group": "all", **{name: 0 if name in _COUNTS else None
                               for name in CONTACT_METRICS}}


_COUNTS: Final = frozenset(("contacts", "offered", "handled", "abandoned", "missed", "refused",
                            "unknown", "open_at_end", "outbound", "outbound_connected",
                            "consults"))


_PLACES: Final = 6
"""Figures are rounded to the microsecond (the stream's times have milliseconds): a sum
of floats depends on the order DuckDB adds them in, which differs between sources and
runs in the last bits, and the same day must give the same report from either."""


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON values: counts as int, figures as float rounded to :data:`_PLACES`
    (None when there are none)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _COUNTS and value is not None:
            out[name] = int(value)
        elif isinstance(value, float):
            out[name] = None if math.isnan(value) else round(value, _PLACES)
        else:
            out[name] = value
    return out


def _sql_list(names: Sequence[str]) -> str:
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + ")"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _connect() -> duckdb.DuckDBPyConnection:
    # nothing is downloaded: the report needs no extension beyond those built in
    db = duckdb.connect(config={"autoinstall_known_extensions": False,
                                "autoload_known_extensions": False})
    db.execute("SET TimeZone = 'UTC'")  # hours and days are UTC's, on any machine
    return db


def open_source(tables_dir: str | None = None, *, db: str | None = None) -> Analytics:
    """The analytics database of replay's tables in ``tables_dir``, or of the store
    ``db``; :class:`ReportError` when it cannot be read."""
    if (tables_dir is None) == (db is None):
        raise ValueError("give a tables directory or a store, one of them")
    if tables_dir is not None:
        return _open_tables(tables_dir)
    assert db is not None
    return _open_store(db)


_NEEDED: Final = ("contacts", "agent_states")


def _open_tables(directory: str) -> Analytics:
    if not os.path.isdir(directory):
        reason = "no such directory" if not os.path.exists(directory) else "not a directory"
        raise ReportError(directory, reason)
    connection = _connect()
    for name in _NEEDED:
        parts = sorted(Path(directory, name).glob("part-*.parquet"))
        if not parts:
            connection.close()
            raise ReportError(directory, f"no {name} table (replay tables of session-fsm "
                              "0.2 or later: DIR/contacts, DIR/agent_states)")
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
        try:
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
            have = {d[0] for d in connection.execute(
                f"SELECT * FROM {name} LIMIT 0").description or ()}
        except duckdb.Error as error:
            connection.close()
            raise ReportError(directory, f"{name}: {_first_line(error)}") from None
        missing = [c for c in TABLES[name].names if c not in have]
        if missing:
            connection.close()
            raise ReportError(directory, f"{name} has no column {missing[0]} (written by an "
                              "older session-fsm: replay again)")
    return Analytics(connection, directory)


_STORE_CONTACTS: Final = """
SELECT s.key, c.agent_id, c.contact_id, c.event_index, c.media, c.skill, c.call_type,
       c.is_inbound, c.status, c.started, c.answered, c.ended, c.ring_s, c.talk_s, c.hold_s,
       c.acw_s, c.handle_time_s, c.disconnect_code, c.outcome, c.closed
FROM contacts c JOIN sessions s ON s.id = c.session ORDER BY s.id, c.event_index
"""
_STORE_STATES: Final = """
SELECT s.key, a.agent_id, a.state, a.out_reason, a.is_acw, a.started, a.ended,
       a.event_index, a.duration_s, a.acw_contact_id
FROM agent_states a JOIN sessions s ON s.id = a.session ORDER BY s.id, a.event_index
"""


def _open_store(path: str) -> Analytics:
    try:
        store = Store(path, read_only=True)
    except StoreError as error:
        message = str(error)
        raise ReportError(path, message.removeprefix(f"{path}: ")) from None
    try:
        if store.version < 3:
            raise ReportError(path, f"store format version {store.version} has no contact "
                              "columns; open it once with session-fsm ingest FILE --db "
                              f"{path} to upgrade it")
        contacts = _arrow(store.select(_STORE_CONTACTS), TABLES["contacts"])
        states = _arrow(store.select(_STORE_STATES), TABLES["agent_states"])
    except StoreError as error:
        raise ReportError(path, str(error).removeprefix(f"{path}: ")) from None
    finally:
        store.close()
    connection = _connect()
    connection.register("contacts", contacts)
    connection.register("agent_states", states)
    return Analytics(connection, path)


def _arrow(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """The store's rows as a table of replay's ``schema`` (same order of columns):
    SQLite's epoch seconds become timestamps, its 0/1 booleans."""
    columns: list[pa.Array] = []
    for n, field in enumerate(schema):
        values = [row[n] for row in rows]
        if pa.types.is_timestamp(field.type):
            micros = [None if v is None else round(v * 1_000_000) for v in values]
            columns.append(pa.array(micros, pa.int64()).cast(field.type))
        elif pa.types.is_boolean(field.type):
            columns.append(pa.array([None if v is None else bool(v) for v in values],
                                    field.type))
        else:
            columns.append(pa.array(values, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
