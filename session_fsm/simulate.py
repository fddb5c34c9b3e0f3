"""Kept for compatibility: the simulator now lives in :mod:`session_fsm.sim`.

``from session_fsm.simulate import simulate, Simulation, ...`` keeps working; new code
imports from :mod:`session_fsm.sim`, whose ``__all__`` this module re-exports whole.
"""

from __future__ import annotations

from .sim import *  # noqa: F403
from .sim import __all__ as __all__
