"""``python -m session_fsm``: the same program as ``session-fsm``."""

from session_fsm.cli import main

main()
