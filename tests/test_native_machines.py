"""The native core's machine tables against the Python reference's, pair by pair.

The tables are declared once, in Python; the core gets ``MachineSpec.table`` at
construction (``session_fsm/native/machine.rs``). Every (state, trigger) pair of every
machine kind must lead where the reference leads, every trigger must be found from its
wire spelling in any casing as ``MachineSpec.trigger_for`` finds it, and so must any
other text, hypothesis-generated. The core's stale-build check is tested too.

Skips, with the reason, where the core is not built (``.ci/run`` builds it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_fsm.machines import MachineSpec, spec_registry
from session_fsm.native import SOURCES, NativeCoreError, load, source_digest

SPECS = spec_registry()


@pytest.fixture(scope="module")
def native() -> ModuleType:
    try:
        return load()
    except NativeCoreError as error:
        pytest.skip(f"native core unavailable: {error}")


def compiled(native: ModuleType, spec: MachineSpec) -> object:
    return native.Machine(spec.name, list(spec.states), list(spec.triggers), dict(spec.table))


@pytest.mark.parametrize("name", list(SPECS))
def test_every_pair_leads_where_the_reference_leads(native: ModuleType, name: str) -> None:
    spec = SPECS[name]
    machine = compiled(native, spec)
    pairs = [(state, trigger) for state in spec.states for trigger in spec.triggers]
    assert [machine.next_state(s, t) for s, t in pairs] == \
        [spec.next_state(s, t) for s, t in pairs]
    assert len(machine) == len(spec.table)
    assert machine.name == spec.name
    # outside the table: unknown states and triggers lead nowhere
    assert machine.next_state("NoSuchState", spec.triggers[0]) is None
    assert machine.next_state(spec.states[0], "NoSuchTrigger") is None


@pytest.mark.parametrize("name", list(SPECS))
def test_every_trigger_is_found_in_any_casing(native: ModuleType, name: str) -> None:
    spec = SPECS[name]
    machine = compiled(native, spec)
    for trigger in spec.triggers:
        for spelling in (trigger, trigger.lower(), trigger.upper(), trigger.swapcase()):
            assert machine.trigger_for(spelling) == spec.trigger_for(spelling) == trigger
    assert machine.trigger_for(None) is None


@given(st.text(max_size=20))
def test_any_text_names_the_same_trigger_in_both(text: str) -> None:
    try:
        core = load()
    except NativeCoreError as error:
        pytest.skip(f"native core unavailable: {error}")
    for spec in SPECS.values():
        assert compiled(core, spec).trigger_for(text) == spec.trigger_for(text), spec.name


def test_a_row_naming_an_undeclared_state_is_refused(native: ModuleType) -> None:
    with pytest.raises(ValueError, match='machine m: state "Nowhere" is not declared'):
        native.Machine("m", ["A"], ["go"], {("A", "go"): "Nowhere"})


def test_a_module_built_from_other_sources_is_refused(native: ModuleType,
                                                       tmp_path: Path) -> None:
    assert source_digest() == native.SOURCE_DIGEST  # the build in use is of these sources
    for source in SOURCES.glob("*.rs"):
        shutil.copy(source, tmp_path / source.name)
    assert load(tmp_path) is native
    edited = tmp_path / "machine.rs"
    edited.write_text(edited.read_text() + "\n// an edit not rebuilt\n")
    with pytest.raises(NativeCoreError, match="built from other sources") as refused:
        load(tmp_path)
    assert "cargo build --release" in str(refused.value)
