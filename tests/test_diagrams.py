"""The state diagrams: committed, up to date, drawn from every row of the tables, checkable.

Edges are read back out of the mermaid text with a regex, so a test fails if a row is
missing from the picture or the picture shows an edge no row declares.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from session_fsm.diagrams import ANY_STATE, MARKER
from session_fsm.machines import ANY, SAME, MachineSpec, spec_registry

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "diagrams"
SPECS = spec_registry()
EDGE = re.compile(r"^\s*(\w+|\[\*\]) --> (\w+|\[\*\])(?:: (.+))?$")


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "session_fsm", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def mermaid_block(text: str) -> str:
    found = re.search(r"```mermaid\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, "no mermaid block"
    return found.group(1)


def drawn_edges(text: str) -> set[tuple[str, str, str]]:
    """(source, dest, trigger) of every arrow; merged labels ``a | b`` are split."""
    edges = set()
    for line in mermaid_block(text).splitlines():
        match = EDGE.match(line)
        if match:
            source, dest, labels = match.groups()
            for label in (labels or "").split(" | "):
                edges.add((source, dest, label))
    return edges


def committed(spec: MachineSpec) -> str:
    return (COMMITTED / f"{spec.name}.md").read_text(encoding="utf-8")


def test_a_committed_diagram_for_every_machine() -> None:
    assert set(SPECS) == {"session", "agent_state", "agent_leg", "contact_call",
                          "contact_work_item", "contact_chat", "contact_voicemail",
                          "contact_digital", "contact_supervisor"}
    for spec in SPECS.values():
        text = committed(spec)
        assert text.startswith(MARKER + "\n")
        assert "stateDiagram-v2" in mermaid_block(text)


def test_check_passes_on_the_committed_files() -> None:
    done = run("diagrams", "--check")
    assert done.returncode == 0, done.stderr
    assert "9 diagrams in diagrams match the machine tables" in done.stdout


def test_check_names_stale_missing_and_obsolete_files(tmp_path: Path) -> None:
    out = tmp_path / "d"
    assert run("diagrams", "--out", str(out), "--no-svg").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.md" for n in SPECS)
    assert run("diagrams", "--out", str(out), "--check").returncode == 0

    leg = out / "agent_leg.md"
    leg.write_text(leg.read_text(encoding="utf-8").replace("Dialing", "Ringing"),
                   encoding="utf-8")
    (out / "contact_chat.md").unlink()
    (out / "contact_fax.md").write_text(MARKER + "\n# a machine that was removed\n",
                                        encoding="utf-8")
    (out / "notes.md").write_text("hand-written, not ours\n", encoding="utf-8")
    done = run("diagrams", "--out", str(out), "--check")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert f"{out / 'agent_leg.md'} (differs)" in done.stderr
    assert f"{out / 'contact_chat.md'} (missing)" in done.stderr
    assert f"{out / 'contact_fax.md'} (obsolete)" in done.stderr
    assert "notes.md" not in done.stderr
    assert "agent_state.md" not in done.stderr

    # writing again repairs all three and leaves the hand-written file alone
    assert run("diagrams", "--out", str(out), "--no-svg").returncode == 0
    assert not (out / "contact_fax.md").exists()
    assert (out / "notes.md").read_text(encoding="utf-8") == "hand-written, not ours\n"
    assert run("diagrams", "--out", str(out), "--check").returncode == 0


def test_check_of_a_missing_directory_says_there_is_none(tmp_path: Path) -> None:
    """Not nine stale diagrams (the first version's answer, issue 33): no directory to
    check, an input error, with --json too."""
    done = run("diagrams", "--out", str(tmp_path / "nowhere"), "--check", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"{tmp_path / 'nowhere'} is not a directory of diagrams" in line


def test_output_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        assert run("diagrams", "--out", str(tmp_path / seed), "--no-svg",
                   env=env).returncode == 0
    for name in SPECS:
        first = (tmp_path / "1" / f"{name}.md").read_bytes()
        assert first == (tmp_path / "2" / f"{name}.md").read_bytes()


@pytest.mark.parametrize("name", list(SPECS))
def test_every_row_is_drawn_and_nothing_else(name: str) -> None:
    spec = SPECS[name]
    text = committed(spec)
    edges = drawn_edges(text)
    expected = set()
    noted = []
    for rule in spec.rules:
        if rule.source == ANY and rule.dest == SAME:
            noted.append(rule.trigger)
        elif rule.source == ANY:
            expected.add((ANY_STATE, str(rule.dest), rule.trigger))
        elif rule.dest == SAME:
            expected.add((str(rule.source), str(rule.source), rule.trigger))
        else:
            expected.add((str(rule.source), str(rule.dest), rule.trigger))
    expected.add(("[*]", str(spec.initial), ""))
    expected |= {(str(final), "[*]", "") for final in spec.final_states}
    assert edges == expected
    if noted:
        note = re.search(rf"note right of {ANY_STATE}\n(.*?)\n\s*end note",
                         mermaid_block(text), re.DOTALL)
        assert note is not None
        for trigger in noted:
            assert trigger in note.group(1)


@pytest.mark.parametrize("name", list(SPECS))
def test_the_table_lists_every_row_with_its_why(name: str) -> None:
    spec = SPECS[name]
    rows = [line for line in committed(spec).splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(spec.rules)
    for row, rule in zip(rows, spec.rules, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        source = "any state" if rule.source == ANY else f"`{rule.source}`"
        dest = "(stays)" if rule.dest == SAME else f"`{rule.dest}`"
        assert cells[1:] == [f"`{rule.trigger}`", source, dest, rule.why]


def test_agent_leg_diagram_by_hand() -> None:
    """The leg's whole picture, written out from the documentation's Dialing/Active/Disconnected."""
    assert drawn_edges(committed(SPECS["agent_leg"])) == {
        ("[*]", "New", ""),
        ("New", "Dialing", "Dialing"),
        ("New", "Active", "Active"),
        ("New", "Disconnected", "Disconnected"),
        ("Dialing", "Active", "Active"),
        ("Dialing", "Disconnected", "Disconnected"),
        ("Active", "Disconnected", "Disconnected"),
        ("Disconnected", "Closed", "close"),
        ("Closed", "[*]", ""),
    }


def test_agent_state_loops_are_one_note_not_a_loop_per_state() -> None:
    block = mermaid_block(committed(SPECS["agent_state"]))
    assert "next_set" not in "\n".join(line for line in block.splitlines() if "-->" in line)
    assert block.count("next_set, next_cleared") == 1
    assert 'state "any state" as AnyState' in block
    # "a logout ends any state" is drawn once, not once per state
    logouts = [line for line in block.splitlines() if line.endswith("--> LoggedOut: LoggedOut")]
    assert sorted(line.strip() for line in logouts) == [
        "AnyState --> LoggedOut: LoggedOut", "Unknown --> LoggedOut: LoggedOut"]


def test_mermaid_front_matter_is_yaml_and_states_use_wire_spelling() -> None:
    block = mermaid_block(committed(SPECS["contact_call"]))
    assert block.startswith('---\ntitle: "Contact lifecycle: call"\n---\nstateDiagram-v2\n')
    assert 'state "NaturalCallAMD" as NaturalCallAMD' in block
    assert "NATURAL_CALL_AMD" not in block
    assert "s_active" not in block.split("classDef s_previous")[1]  # no "current" state


def fake_dot(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose PATH finds a stand-in ``dot`` running ``script`` first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dot = bin_dir / "dot"
    dot.write_text(f"#!/bin/sh\n{script}\n")
    dot.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_svg_drawn_when_dot_is_on_path(tmp_path: Path) -> None:
    # a stand-in for Graphviz: the "SVG" is the DOT it was given, so the test can read it
    env = fake_dot(tmp_path, 'echo "<svg>"; cat; echo "</svg>"')
    out = tmp_path / "d"
    done = run("diagrams", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    svg = (out / "agent_leg.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg>\ndigraph")
    assert '"Dialing" -> "Active" [label="Active"];' in svg
    assert '"Disconnected" -> "Closed" [label="close"];' in svg
    assert sorted(p.name for p in out.glob("*.svg")) == sorted(f"{n}.svg" for n in SPECS)
    # SVGs are never part of the check
    (out / "agent_leg.svg").write_text("changed", encoding="utf-8")
    assert run("diagrams", "--out", str(out), "--check", env=env).returncode == 0

    no_svg = tmp_path / "plain"
    assert run("diagrams", "--out", str(no_svg), "--no-svg", env=env).returncode == 0
    assert not list(no_svg.glob("*.svg"))


def test_a_failing_dot_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    env = fake_dot(tmp_path, 'echo "syntax error near line 3" >&2\nexit 3')
    out = tmp_path / "d"
    done = run("diagrams", "--out", str(out), env=env)
    assert done.returncode == 0
    assert "warning: no SVG" in done.stderr
    assert "syntax error near line 3" in done.stderr
    assert "Traceback" not in done.stderr
    assert run("diagrams", "--out", str(out), "--check").returncode == 0


def test_help_has_examples() -> None:
    done = run("diagrams", "--help")
    assert done.returncode == 0
    assert "Examples:" in done.stdout
    assert "session-fsm diagrams --check" in done.stdout
