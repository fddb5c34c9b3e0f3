"""``maturin build --release`` makes a wheel that carries the native core, and the
package installed from it runs the native engine with the same outputs.

The wheel is built by maturin itself (``[tool.maturin]`` in pyproject.toml), installed
without its dependencies into a folder of its own, and run from there in a child
process (the dependencies come from this environment): ``--version`` must name the
native engine, the module must be the wheel's, and ``snapshot --json`` of a simulated
stream must equal this checkout's Python engine's, byte for byte.

Skips, with the reason, where maturin or cargo is missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from session_fsm.sim import simulate

ROOT = Path(__file__).resolve().parent.parent

MATURIN = shutil.which("maturin", path=str(Path(sys.executable).parent)) or \
    shutil.which("maturin")
"""The environment's own maturin (the test extra's), else one on the PATH."""

pytestmark = pytest.mark.skipif(
    MATURIN is None or shutil.which("cargo") is None,
    reason="maturin and cargo are needed to build the wheel (the test extra has maturin)")


def test_the_wheel_carries_the_core_and_runs_the_native_engine(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [str(MATURIN), "build", "--release", "--quiet", "--out", str(wheels)], cwd=ROOT,
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target" / "wheel")})
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("session_fsm-*-abi3-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "session_fsm/_native.abi3.so" in names
    assert "session_fsm/schemas/snapshot.schema.json" in names
    assert "session_fsm/io/service/wallboard/wallboard.js" in names

    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr

    stream = tmp_path / "day.jsonl"
    with stream.open("wb") as out:
        simulate(out, agents=6, seed=9, minutes=60.0)

    def run(*args: str, engine: str, path: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": path, "SESSION_FSM_ENGINE": engine}
        return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300,
                              check=False)

    version = run("--version", engine="native", path=str(site))
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().endswith("(native engine)")
    where = subprocess.run(
        [sys.executable, "-c", "import session_fsm._native as m; print(m.__file__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True,
        text=True, timeout=60, check=True)
    assert where.stdout.strip().startswith(str(site))
    from_wheel = run("snapshot", "--json", str(stream), engine="native", path=str(site))
    reference = run("snapshot", "--json", str(stream), engine="python", path=str(ROOT))
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert from_wheel.stdout == reference.stdout
