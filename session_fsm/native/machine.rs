//! One machine kind's transition table, compiled for the core.
//!
//! The tables are declared once, in Python (`session_fsm/machines/`, checked by
//! `transitions`); `MachineSpec.table` is handed over at construction, so the core runs
//! exactly the rows the Python reference runs and the diagrams draw. States and triggers
//! become small indices and the table a flat vector: a lookup is two index operations.

use rustc_hash::FxHashMap as HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A machine kind: its states, its triggers and `(state, trigger) -> dest`.
#[pyclass(frozen, module = "session_fsm._native")]
pub struct Machine {
    #[pyo3(get)]
    name: String,
    states: Vec<String>,
    state_index: HashMap<String, usize>,
    triggers: Vec<String>,
    trigger_index: HashMap<String, usize>,
    /// A trigger by its lower-cased spelling: wire statuses are compared without case,
    /// as the official SDK does (and as `MachineSpec.trigger_for`).
    folded: HashMap<String, usize>,
    /// `dest` of `(state, trigger)` at `state * triggers.len() + trigger`.
    table: Vec<Option<usize>>,
}

impl Machine {
    /// The machine's name (`agent_state`, `contact_call`...).
    pub fn name_str(&self) -> &str {
        &self.name
    }

    /// Where `trigger` leads from `state` (the engine's lookup).
    pub fn dest(&self, state: &str, trigger: &str) -> Option<&str> {
        let s = *self.state_index.get(state)?;
        let t = *self.trigger_index.get(trigger)?;
        self.table[s * self.triggers.len() + t].map(|d| self.states[d].as_str())
    }

    /// The trigger a wire status names: its own spelling first (`MachineSpec.exact`), then
    /// any casing (`MachineSpec.trigger_for`).
    pub fn trigger(&self, status: Option<&str>) -> Option<&str> {
        let status = status?;
        if let Some(&n) = self.trigger_index.get(status) {
            return Some(self.triggers[n].as_str());
        }
        let n = *self.folded.get(&status.to_lowercase())?;
        Some(self.triggers[n].as_str())
    }

    /// The trigger a wire status names in any casing only (`MachineSpec.trigger_for`).
    pub fn folded_trigger(&self, status: Option<&str>) -> Option<&str> {
        let n = *self.folded.get(&status?.to_lowercase())?;
        Some(self.triggers[n].as_str())
    }
}

#[pymethods]
impl Machine {
    /// `states` and `triggers` in their declared order; `table` maps `(state, trigger)`
    /// to the state it leads to. A row naming a state or trigger not declared is refused.
    #[new]
    fn new(
        name: String,
        states: Vec<String>,
        triggers: Vec<String>,
        table: HashMap<(String, String), String>,
    ) -> PyResult<Self> {
        let state_index: HashMap<String, usize> =
            states.iter().enumerate().map(|(n, s)| (s.clone(), n)).collect();
        let trigger_index: HashMap<String, usize> =
            triggers.iter().enumerate().map(|(n, t)| (t.clone(), n)).collect();
        // the last of two triggers that fold alike wins, as in `MachineSpec._folded`
        let folded: HashMap<String, usize> =
            triggers.iter().enumerate().map(|(n, t)| (t.to_lowercase(), n)).collect();
        let mut compiled = vec![None; states.len() * triggers.len()];
        for ((source, trigger), dest) in &table {
            let unknown = |what: &str, value: &str| {
                PyValueError::new_err(format!("machine {name}: {what} {value:?} is not declared"))
            };
            let s = *state_index.get(source).ok_or_else(|| unknown("state", source))?;
            let t = *trigger_index.get(trigger).ok_or_else(|| unknown("trigger", trigger))?;
            let d = *state_index.get(dest).ok_or_else(|| unknown("state", dest))?;
            compiled[s * triggers.len() + t] = Some(d);
        }
        Ok(Self { name, states, state_index, triggers, trigger_index, folded, table: compiled })
    }

    /// Where `trigger` leads from `state`, or None when the table has no such row (or
    /// either is unknown).
    fn next_state(&self, state: &str, trigger: &str) -> Option<&str> {
        self.dest(state, trigger)
    }

    /// The trigger a wire status names, in any casing; None if this machine has none.
    fn trigger_for(&self, wire_value: Option<&str>) -> Option<&str> {
        self.folded_trigger(wire_value)
    }

    /// How many `(state, trigger)` rows the table has.
    fn __len__(&self) -> usize {
        self.table.iter().filter(|d| d.is_some()).count()
    }
}
