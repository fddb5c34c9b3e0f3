"""session_fsm: live state, validated sequences and contact histories.

The input is the NICE CXone agent event stream (the get-next-event long poll).
"""

from __future__ import annotations

__version__ = "0.1.0"
