"""Hypothesis profiles shared by the property tests.

``ci`` (the default) keeps the suite quick; ``long`` is the documented longer run:
``HYPOTHESIS_PROFILE=long python -m pytest tests/test_robustness.py tests/test_checkpoint.py
tests/test_facts.py``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("long", max_examples=3_000, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
