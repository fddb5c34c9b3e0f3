//! `session_fsm._native`: the native core of session_fsm (issue 31), growing one concern
//! at a time, each held equal to the Python reference by a differential test.
//!
//! | file | concern |
//! |---|---|
//! | `machine.rs` | a machine kind's transition table, handed over from Python |
//! | `engine.rs` | one agent session: its records, redelivery memory, handlers and changes |
//! | `wire.rs` | the facts of the frequent event types, read from the wire object or a parsed line, and the digest |
//! | `json.rs` | a line's JSON read by the core (only what orjson reads to the same value), written as orjson writes it |
//! | `lines.rs` | JSON Lines read by the core: a chunk's lines, their shapes, each event applied, the rest handed back |
//! | `codec.rs` | the codec's scalar readers (booleans, integers, strings as the wire spells them) |
//! | `build.rs` | the digest of these sources, so a stale build is refused |
//!
//! No `unsafe` of our own, and nothing here panics across the boundary: a bad argument
//! is a Python exception.

#![forbid(unsafe_code)]

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

mod codec;
mod engine;
mod json;
mod lines;
mod machine;
mod wire;

/// The digest of the sources this module was built from (see `build.rs`).
const SOURCE_DIGEST: &str = env!("SESSION_FSM_SOURCE_DIGEST");

/// One JSON value (`json`, as the wire has it) read as a field of `kind` (`"bool"`,
/// `"int"` or `"str"`): the value, None for an unset one, or ValueError naming what the
/// kind holds. What the differential tests hold equal to the Python codec's readers.
#[pyfunction]
fn parse_field<'py>(py: Python<'py>, kind: &str, json: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|error| PyValueError::new_err(format!("not JSON: {error}")))?;
    let expected = |codec::Expected(what)| PyValueError::new_err(format!("expected {what}"));
    Ok(match kind {
        "bool" => match codec::parse_bool(&value).map_err(expected)? {
            Some(flag) => PyBool::new(py, flag).to_owned().into_any(),
            None => py.None().into_bound(py),
        },
        "int" => match codec::parse_int(&value).map_err(expected)? {
            Some(number) => number.into_pyobject(py)?.into_any(),
            None => py.None().into_bound(py),
        },
        "str" => match codec::parse_str(&value).map_err(expected)? {
            Some(text) => text.into_pyobject(py)?.into_any(),
            None => py.None().into_bound(py),
        },
        other => return Err(PyValueError::new_err(format!("no field kind {other:?}"))),
    })
}

/// The redelivery digest of a wire object as the core computes it (`wire.rs`), for the
/// tests that hold it equal to `facts.wire_digest`.
#[pyfunction]
fn wire_digest(py: Python<'_>, wire: &Bound<'_, pyo3::types::PyDict>) -> PyResult<Option<u64>> {
    let dumps = py.import("orjson")?.getattr("dumps")?;
    wire::digest(py, wire, &dumps, &mut Vec::new())
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("SOURCE_DIGEST", SOURCE_DIGEST)?;
    module.add("MAX_INT_DIGITS", codec::MAX_INT_DIGITS)?;
    module.add_class::<machine::Machine>()?;
    module.add_class::<engine::Kit>()?;
    module.add_class::<engine::Core>()?;
    module.add_class::<lines::Lines>()?;
    module.add_function(wrap_pyfunction!(parse_field, module)?)?;
    module.add_function(wrap_pyfunction!(wire_digest, module)?)?;
    Ok(())
}

