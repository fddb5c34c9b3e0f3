"""Which size a benchmark runs at: the full one when it is really measured, a small one
when the suite runs it as an ordinary test (CI's default ``--benchmark-disable``)."""

from __future__ import annotations

import os

import pytest


def full_size(config: pytest.Config) -> bool:
    """Full size under ``--benchmark-enable`` or ``BENCH_FULL=1``; small otherwise."""
    if os.environ.get("BENCH_FULL") == "1":
        return True
    # pytest-benchmark's own rule: disabled unless --benchmark-enable overrides it
    return not (config.getoption("benchmark_disable") and not config.getoption("benchmark_enable"))
