"""``serve --config FILE``: which sessions the service follows, read from TOML and checked.

The file lists one ``[[session]]`` table per agent session::

    [poll]                        # optional; defaults for every session
    timeout = 30                  # seconds the server holds an empty poll (0..60)
    max_retries = 60              # failed polls in a row before that session gives up
    http_timeout = 40             # one request's overall deadline (default timeout + 10)
    retry_base_delay = 1.0        # backoff: capped exponential with full jitter
    retry_max_delay = 10.0

    [[session]]
    key = "agent-00042"           # the session's name in the API, the store and the wallboard
    base_url = "https://api-c32.nice-incontact.com/incontactapi/services/v30.0"
    session_id = "58070815"       # from the start-session API (or where to resume)
    token_file = "tokens/agent-00042"   # relative to this file; read for every request

Everything is checked before the service starts, and a mistake is one line that names
the file, the session (its place and key) and the field: a bad base URL, a session id
that is not one plain path segment (it would send the poll and its token elsewhere), a
key given twice, an unknown field (a typo must not be ignored silently). A token file is
checked to exist, never read here (the poller reads it for every request, so it may be
refreshed), and its content never appears in a message.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ...errors import ConfigError, printable
from ...wire.reader import DEFAULT_MAX_LINE_BYTES
from ..poll import DEFAULT_POLL_TIMEOUT, RetryPolicy, check_base_url, plain_segment

__all__ = ["MAX_KEY_CHARS", "ConfigError", "PollSettings", "ServiceConfig", "SessionSpec",
           "check_base_url", "check_key", "load_config"]

MAX_KEY_CHARS: Final = 200
"""The longest session key: it is shown on the wallboard and used in URLs."""


@attrs.frozen(slots=True)
class PollSettings:
    """How every session is polled (the ``[poll]`` table)."""

    timeout: int = DEFAULT_POLL_TIMEOUT
    max_retries: int = RetryPolicy().max_retries
    http_timeout: float | None = None
    max_body: int = DEFAULT_MAX_LINE_BYTES
    retry_base_delay: float = RetryPolicy().base_delay
    retry_max_delay: float = RetryPolicy().max_delay


@attrs.frozen(slots=True)
class SessionSpec:
    """One session to follow."""

    key: str
    base_url: str
    session_id: str
    token_file: Path


@attrs.frozen(slots=True)
class ServiceConfig:
    sessions: tuple[SessionSpec, ...] = ()
    poll: PollSettings = PollSettings()


def check_key(key: object) -> str | None:
    """What is wrong with a session key (a printable string, not too long), or None."""
    if not isinstance(key, str) or not key:
        return "expected a non-empty string"
    if len(key) > MAX_KEY_CHARS:
        return f"expected at most {MAX_KEY_CHARS} characters, got {len(key)}"
    if not key.isprintable():
        return f"expected printable characters, got {printable(key)!r}"
    return None


_POLL_FIELDS: Final[Mapping[str, tuple[type | tuple[type, ...], int | float, float]]] = {
    # name: (types, lowest, highest)
    "timeout": (int, 0, 60),
    "max_retries": (int, 0, 1_000_000),
    "http_timeout": ((int, float), 0.001, 3600.0),
    "max_body": (int, 1, DEFAULT_MAX_LINE_BYTES),
    "retry_base_delay": ((int, float), 0.0, 3600.0),
    "retry_max_delay": ((int, float), 0.0, 3600.0),
}
_SESSION_FIELDS: Final = ("key", "base_url", "session_id", "token_file")


def load_config(path: str | os.PathLike[str]) -> ServiceConfig:
    """Read and check the config file at ``path``; :class:`ConfigError` says what is wrong."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(name, f"cannot read it: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(name, f"is not TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(name, f"is not UTF-8 text: {error.reason}") from None
    unknown = sorted(set(document) - {"poll", "session"})
    if unknown:
        raise ConfigError(name, f"unknown table or key {unknown[0]!r} (expected [poll] and "
                                f"[[session]] tables)")
    poll = _poll(name, document.get("poll", {}))
    raw_sessions = document.get("session", [])
    if not isinstance(raw_sessions, list):
        raise ConfigError(name, "session: expected [[session]] tables")
    base_dir = Path(name).parent
    sessions: list[SessionSpec] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_sessions, 1):
        spec = _session(name, number, raw, base_dir)
        if spec.key in seen:
            raise ConfigError(f"{name}: session {number}", f"key {spec.key!r} is given twice")
        seen.add(spec.key)
        sessions.append(spec)
    return ServiceConfig(tuple(sessions), poll)


def _poll(name: str, raw: object) -> PollSettings:
    where = f"{name}: [poll]"
    if not isinstance(raw, dict):
        raise ConfigError(where, "expected a table")
    values: dict[str, Any] = {}
    for field, value in raw.items():
        if field not in _POLL_FIELDS:
            raise ConfigError(where, f"unknown field {field!r} (expected one of "
                                     f"{', '.join(_POLL_FIELDS)})")
        types, low, high = _POLL_FIELDS[field]
        if (isinstance(value, bool) or not isinstance(value, types)
                or not low <= float(value) <= high):  # type: ignore[arg-type]
            raise ConfigError(where, f"{field}: expected a number from {low:g} to {high:g}, "
                                     f"got {printable(repr(value))}")
        values[field] = value
    return PollSettings(**values)


def _session(name: str, number: int, raw: object, base_dir: Path) -> SessionSpec:
    where = f"{name}: session {number}"
    if not isinstance(raw, dict):
        raise ConfigError(where, "expected a table")
    if (key_problem := check_key(raw.get("key"))) is not None:
        raise ConfigError(where, f"key: {key_problem}")
    where = f"{where} ({raw['key']!r})"
    for field in raw:
        if field not in _SESSION_FIELDS:
            raise ConfigError(where, f"unknown field {printable(str(field))!r} (expected "
                                     f"{', '.join(_SESSION_FIELDS)})")
    for field in _SESSION_FIELDS:
        if field not in raw:
            raise ConfigError(where, f"{field}: missing")
    if (url_problem := check_base_url(raw["base_url"])) is not None:
        raise ConfigError(where, f"base_url: {url_problem}")
    session_id = raw["session_id"]
    if not isinstance(session_id, str) or not plain_segment(session_id):
        raise ConfigError(where, "session_id: expected one plain path segment (letters, "
                                 f"digits, '.', '_', '~', '-'), got "
                                 f"{printable(repr(session_id))}")
    token_file = raw["token_file"]
    if not isinstance(token_file, str) or not token_file:
        raise ConfigError(where, "token_file: expected a path")
    token_path = base_dir / token_file
    if not token_path.is_file():
        raise ConfigError(where, f"token_file: {token_path} is not a readable file")
    return SessionSpec(raw["key"], raw["base_url"].rstrip("/"), session_id, token_path)
