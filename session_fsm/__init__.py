"""session_fsm: live state, validated sequences and contact histories from the CXone agent event stream."""

from __future__ import annotations

__version__ = "0.1.0"
