//! `session_fsm._native`: the native core of session_fsm (issue 31), growing one concern
//! at a time, each held equal to the Python reference by a differential test.
//!
//! | file | concern |
//! |---|---|
//! | `machine.rs` | a machine kind's transition table, handed over from Python |
//! | `build.rs` | the digest of these sources, so a stale build is refused |
//!
//! No `unsafe` of our own, and nothing here panics across the boundary: a bad argument
//! is a Python exception.

#![forbid(unsafe_code)]

use pyo3::prelude::*;

mod machine;

/// The digest of the sources this module was built from (see `build.rs`).
const SOURCE_DIGEST: &str = env!("SESSION_FSM_SOURCE_DIGEST");

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("SOURCE_DIGEST", SOURCE_DIGEST)?;
    module.add_class::<machine::Machine>()?;
    Ok(())
}
