"""benchmarks/compare_engines.py, the README's way to compare two versions, still runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from session_fsm.sim import simulate

ROOT = Path(__file__).resolve().parent.parent


def test_two_copies_of_this_engine_compare_round_by_round(tmp_path: Path) -> None:
    stream = tmp_path / "day.jsonl"
    with stream.open("wb") as out:
        simulate(out, agents=2, seed=5, minutes=20.0)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_engines.py"), str(ROOT),
         str(stream), "--rounds", "2"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^round \d: floor [\d.]+ s, other [\d.]+ s, this [\d.]+ s$",
                          done.stdout, re.MULTILINE)) == 2
    assert re.search(r"^this / other, per round: median [\d.]+, quartiles [\d.]+ to [\d.]+ "
                     r"\(2 rounds\)$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^other: best round [\d.]+ s = [\d.]+x the best floor$", done.stdout,
                     re.MULTILINE)


def test_a_checkout_without_the_package_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_engines.py"), str(tmp_path),
         str(tmp_path / "none.jsonl")],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"{tmp_path} has no session_fsm package" in done.stderr
