"""``session-fsm serve``: many sessions on asyncio, an HTTP API and a wallboard.

- :mod:`.config`: the ``--config`` file, read and checked.
- :mod:`.hub`: the one engine, and the change log, histories, metrics and state read
  from what it says.
- :mod:`.follower`: the asyncio driver of the sans-IO poll core (``io/poll.py``).
- :mod:`.app`: the HTTP API and the wallboard page (Starlette).
- :mod:`.run`: :class:`~.run.Service`, which runs them together and stops cleanly.
"""

from ...errors import ConfigError, PushError, ServiceError
from .config import ServiceConfig, SessionSpec, load_config
from .hub import Hub
from .run import Service, is_loopback

__all__ = ["ConfigError", "Hub", "PushError", "Service", "ServiceConfig", "ServiceError",
           "SessionSpec", "is_loopback", "load_config"]
