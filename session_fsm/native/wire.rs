//! The facts of the frequent event types, read in the core straight from the wire object
//! (the `dict` the reader made), as `wire/codec.py`'s `field_reader` reads them: every
//! field of the object checked, only the wanted ones converted.
//!
//! The reader answers only for the usual case, and then exactly as `field_reader` does:
//! keys spelled as documented or in another casing (each field spelled once), strings
//! that are strings, the wire's boolean words, integers of at most 18 ASCII digits, and
//! timestamps of the wire's own form (`2013-09-10T20:05:37.000Z`, the fraction of 3 or 6
//! digits or none). For anything else it answers `None`, and the caller takes the
//! shared Python path (`engine/session.py`'s `read_event`), which converts or reports
//! exactly as always. So both engines read the same facts by construction; the
//! differential tests check it.

use rustc_hash::FxHashMap as HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::json::Val;

type Obj = Py<PyAny>;

/// The most digits a wire integer may have (`codec.MAX_INT_DIGITS`).
const MAX_INT_DIGITS: usize = 18;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    Time,
    /// A nested value (`NextStates`, `Messages`...): converted by the codec's own hook.
    Structured,
    /// `NextStates`: as `Structured`, but the usual entries (`State` and `OutReason`,
    /// strings) are the codec's shared values, kept here too once made.
    NextStates,
}

/// The most shared `NextStates` entries kept (`codec._SHARED_NEXT_STATES_MAX`).
const SHARED_MAX: usize = 4096;

pub struct Field {
    kind: Kind,
    /// `NextStates` entries made, by (state, out reason).
    shared: std::sync::Mutex<HashMap<(String, String), Obj>>,
    /// Where its value goes in the facts, if the facts want it.
    slot: Option<usize>,
    /// The codec's `_fast` hook for a nested field, and its default when absent.
    convert: Option<Obj>,
    default: Option<Obj>,
}

/// How one event type's facts are read (`field_reader`'s compiled form).
pub struct TypeSpec {
    pub route: usize,
    fields: Vec<Field>,
    /// Each field by its documented key, and by that key lower-cased.
    exact: HashMap<String, usize>,
    folded: HashMap<String, usize>,
    slots: usize,
    /// The facts slot of an undeclared key read as it is (`MasterID`).
    extras: Vec<(String, usize)>,
}

/// One event's facts: Python values in the facts' field order, and the microseconds
/// since 1970 of the timestamps the engine compares.
pub struct Facts<'py> {
    pub values: Vec<Bound<'py, PyAny>>,
    pub micros: Vec<Option<i64>>,
}

impl<'py> Facts<'py> {
    pub fn get(&self, slot: usize) -> &Bound<'py, PyAny> {
        &self.values[slot]
    }

    pub fn us(&self, slot: usize) -> Option<i64> {
        self.micros.get(slot).copied().flatten()
    }

    pub fn text(&self, slot: usize) -> PyResult<Option<String>> {
        self.values[slot].extract()
    }

    pub fn truthy(&self, slot: usize) -> PyResult<bool> {
        self.values[slot].is_truthy()
    }

    /// An optional boolean fact (`is_inbound`, `is_linked`): None stays None.
    pub fn flag(&self, slot: usize) -> PyResult<Option<bool>> {
        let value = &self.values[slot];
        if value.is_none() {
            Ok(None)
        } else {
            Ok(Some(value.is_truthy()?))
        }
    }

    pub fn obj(&self, slot: usize) -> Option<Obj> {
        let value = &self.values[slot];
        if value.is_none() {
            None
        } else {
            Some(value.clone().unbind())
        }
    }

    /// The facts of a facts tuple the Python path made (`read_event`): the same values,
    /// and the microseconds of its compared timestamps through `micros`.
    pub fn of_tuple(tuple: &Bound<'py, PyAny>, timed: &[usize], micros: &Bound<'py, PyAny>) -> PyResult<Self> {
        let values: Vec<Bound<'py, PyAny>> = tuple.try_iter()?.collect::<PyResult<_>>()?;
        let mut us = vec![None; values.len()];
        for &slot in timed {
            if let Some(value) = values.get(slot) {
                if !value.is_none() {
                    us[slot] = Some(micros.call1((value,))?.extract()?);
                }
            }
        }
        Ok(Self { values, micros: us })
    }
}

impl TypeSpec {
    /// `fields`: per declared field `(wire key, kind, facts slot or -1, hook, default)`;
    /// `extras`: `(wire key, facts slot)` of undeclared keys read as they are.
    pub fn new(
        route: usize,
        fields: Vec<(String, String, i64, Option<Obj>, Option<Obj>)>,
        slots: usize,
        extras: Vec<(String, usize)>,
    ) -> Result<Self, String> {
        let mut exact = HashMap::default();
        let mut folded = HashMap::default();
        let mut compiled = Vec::with_capacity(fields.len());
        for (n, (key, kind, slot, convert, default)) in fields.into_iter().enumerate() {
            let kind = match kind.as_str() {
                "str" => Kind::Str,
                "bool" => Kind::Bool,
                "int" => Kind::Int,
                "time" => Kind::Time,
                "structured" => Kind::Structured,
                "next_states" => Kind::NextStates,
                other => return Err(format!("no field kind {other:?}")),
            };
            folded.insert(key.to_lowercase(), n);
            exact.insert(key, n);
            compiled.push(Field { kind, shared: std::sync::Mutex::default(), slot: usize::try_from(slot).ok(), convert, default });
        }
        Ok(Self { route, fields: compiled, exact, folded, slots, extras })
    }

    /// The field a wire key spells: as documented, or in another casing (`IsACW`).
    fn field_of(&self, key: &str) -> Option<usize> {
        match self.exact.get(key) {
            Some(&n) => Some(n),
            None => self.folded.get(&key.to_lowercase()).copied(),
        }
    }

    /// The facts of `obj`, or None when the shared Python path must read it.
    pub fn read<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyDict>,
        from_iso: &Bound<'py, PyAny>,
        missing: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Facts<'py>>> {
        let mut found: Vec<Option<Bound<'py, PyAny>>> = vec![None; self.fields.len()];
        for (key, value) in obj.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Ok(None);
            };
            if let Some(n) = self.field_of(key.to_str()?) {
                if found[n].is_some() {
                    return Ok(None); // a field spelled twice: decode keeps one, the other as extra
                }
                found[n] = Some(value);
            }
        }
        let none = py.None().into_bound(py);
        let mut values: Vec<Bound<'py, PyAny>> = vec![none.clone(); self.slots];
        let mut micros: Vec<Option<i64>> = vec![None; self.slots];
        for (field, value) in self.fields.iter().zip(found) {
            let converted: Bound<'py, PyAny> = match field.kind {
                Kind::Str => match value {
                    None => none.clone(),
                    Some(v) if v.is_none() || v.is_exact_instance_of::<PyString>() => v,
                    Some(_) => return Ok(None),
                },
                Kind::Bool => match value {
                    None => none.clone(),
                    Some(v) if v.is_none() => v,
                    Some(v) => {
                        if !v.is_exact_instance_of::<PyString>() {
                            return Ok(None);
                        }
                        match v.cast::<PyString>()?.to_str()? {
                            "True" | "true" => true.into_bound_py_any(py)?,
                            "False" | "false" => false.into_bound_py_any(py)?,
                            "" => none.clone(),
                            _ => return Ok(None),
                        }
                    }
                },
                Kind::Int => match scalar_text(&value)? {
                    Scalar::Unset => none.clone(),
                    Scalar::Other => return Ok(None),
                    Scalar::Text(text) => {
                        if text.len() > MAX_INT_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
                            return Ok(None);
                        }
                        match text.parse::<i64>() {
                            Ok(n) => n.into_bound_py_any(py)?,
                            Err(_) => return Ok(None),
                        }
                    }
                },
                Kind::Time => match scalar_text(&value)? {
                    Scalar::Unset => none.clone(),
                    Scalar::Other => return Ok(None),
                    Scalar::Text(text) => {
                        let Some(us) = wire_time(text) else {
                            return Ok(None);
                        };
                        if let Some(slot) = field.slot {
                            micros[slot] = Some(us);
                        }
                        from_iso.call1((value.as_ref().map_or_else(|| none.clone(), Clone::clone),))?
                    }
                },
                Kind::Structured | Kind::NextStates => match value {
                    None => match &field.default {
                        Some(d) => d.bind(py).clone(),
                        None => none.clone(),
                    },
                    Some(v) => {
                        if v.is_exact_instance_of::<PyList>() && v.len()? == 0 && field.default.is_some() {
                            // a tuple field's empty array: what the hook makes of it
                            PyTuple::empty(py).into_any()
                        } else {
                            let Some(done) = field.converted(v, missing)? else {
                                return Ok(None);
                            };
                            done
                        }
                    }
                },
            };
            if let Some(slot) = field.slot {
                values[slot] = converted;
            }
        }
        for (key, slot) in &self.extras {
            if let Some(value) = obj.get_item(key)? {
                values[*slot] = value;
            }
        }
        Ok(Some(Facts { values, micros }))
    }
}

impl TypeSpec {
    /// [`TypeSpec::read`] of an event the core parsed itself (`json.rs`): the same facts
    /// from the same JSON, or None when the shared Python path must read it.
    pub fn read_val<'py>(
        &self,
        py: Python<'py>,
        pairs: &[(std::borrow::Cow<'_, str>, Val<'_>)],
        from_iso: &Bound<'py, PyAny>,
        missing: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Facts<'py>>> {
        let mut found: Vec<Option<&Val<'_>>> = vec![None; self.fields.len()];
        for (key, value) in pairs {
            if let Some(n) = self.field_of(key) {
                if found[n].is_some() {
                    return Ok(None); // a field spelled twice: decode keeps one, the other as extra
                }
                found[n] = Some(value);
            }
        }
        let none = py.None().into_bound(py);
        let mut values: Vec<Bound<'py, PyAny>> = vec![none.clone(); self.slots];
        let mut micros: Vec<Option<i64>> = vec![None; self.slots];
        for (field, value) in self.fields.iter().zip(found) {
            if field.slot.is_none() && !matches!(field.kind, Kind::Structured | Kind::NextStates) {
                // not wanted: only checked, as the codec checks it
                let fine = match (field.kind, value) {
                    (_, None | Some(Val::Null)) => true,
                    (Kind::Str, Some(Val::Str(_))) => true,
                    (Kind::Bool, Some(Val::Str(t))) => matches!(t.as_ref(), "True" | "true" | "False" | "false" | ""),
                    (Kind::Int, Some(Val::Str(t))) => {
                        t.is_empty() || (t.len() <= MAX_INT_DIGITS && t.bytes().all(|b| b.is_ascii_digit()))
                    }
                    (Kind::Time, Some(Val::Str(t))) => t.is_empty() || wire_time(t).is_some(),
                    _ => false,
                };
                if !fine {
                    return Ok(None);
                }
                continue;
            }
            let converted: Bound<'py, PyAny> = match field.kind {
                Kind::Str => match value {
                    None | Some(Val::Null) => none.clone(),
                    Some(Val::Str(text)) => PyString::new(py, text).into_any(),
                    Some(_) => return Ok(None),
                },
                Kind::Bool => match value {
                    None | Some(Val::Null) => none.clone(),
                    Some(Val::Str(text)) => match text.as_ref() {
                        "True" | "true" => true.into_bound_py_any(py)?,
                        "False" | "false" => false.into_bound_py_any(py)?,
                        "" => none.clone(),
                        _ => return Ok(None),
                    },
                    Some(_) => return Ok(None),
                },
                Kind::Int => match value {
                    None | Some(Val::Null) => none.clone(),
                    Some(Val::Str(text)) if text.is_empty() => none.clone(),
                    Some(Val::Str(text)) => {
                        if text.len() > MAX_INT_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
                            return Ok(None);
                        }
                        match text.parse::<i64>() {
                            Ok(n) => n.into_bound_py_any(py)?,
                            Err(_) => return Ok(None),
                        }
                    }
                    Some(_) => return Ok(None),
                },
                Kind::Time => match value {
                    None | Some(Val::Null) => none.clone(),
                    Some(Val::Str(text)) if text.is_empty() => none.clone(),
                    Some(Val::Str(text)) => {
                        let Some(us) = wire_time(text) else {
                            return Ok(None);
                        };
                        if let Some(slot) = field.slot {
                            micros[slot] = Some(us);
                        }
                        from_iso.call1((PyString::new(py, text),))?
                    }
                    Some(_) => return Ok(None),
                },
                Kind::NextStates if matches!(value, Some(Val::Arr(items)) if !items.is_empty()) => {
                    let Some(Val::Arr(items)) = value else {
                        return Ok(None);
                    };
                    match field.next_states(py, items)? {
                        Some(made) => made,
                        None => {
                            let Some(done) = field.converted(crate::json::to_py(py, value.unwrap_or(&Val::Null))?, missing)? else {
                                return Ok(None);
                            };
                            done
                        }
                    }
                }
                Kind::Structured | Kind::NextStates => match value {
                    None => match &field.default {
                        Some(d) => d.bind(py).clone(),
                        None => none.clone(),
                    },
                    Some(Val::Arr(items)) if items.is_empty() && field.default.is_some() => {
                        // a tuple field's empty array: what the hook makes of it
                        PyTuple::empty(py).into_any()
                    }
                    Some(v) => {
                        let Some(done) = field.converted(crate::json::to_py(py, v)?, missing)? else {
                            return Ok(None);
                        };
                        done
                    }
                },
            };
            if let Some(slot) = field.slot {
                values[slot] = converted;
            }
        }
        for (key, slot) in &self.extras {
            if let Some((_, value)) = pairs.iter().find(|(k, _)| k == key) {
                values[*slot] = crate::json::to_py(py, value)?;
            }
        }
        Ok(Some(Facts { values, micros }))
    }
}

impl Field {
    /// A nested field's value as the codec's hook makes it; None when the hook declines
    /// (the shared Python path then reads the event).
    fn converted<'py>(&self, value: Bound<'py, PyAny>, missing: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(convert) = &self.convert else {
            return Ok(None);
        };
        let done = convert.bind(value.py()).call1((value,))?;
        Ok(if done.is(missing) { None } else { Some(done) })
    }

    /// The tuple of shared `NextState` values `codec._shared_next_state` makes of
    /// `items`, when every entry is the usual `{"State": str, "OutReason": str}`; None
    /// for anything else (then the codec's hook reads them all, as always).
    fn next_states<'py>(&self, py: Python<'py>, items: &[Val<'_>]) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(convert) = &self.convert else {
            return Ok(None);
        };
        let mut pairs = Vec::with_capacity(items.len());
        for item in items {
            let Val::Obj(entry) = item else {
                return Ok(None);
            };
            let (Some(Val::Str(state)), Some(Val::Str(reason)), 2) = (item.get("State"), item.get("OutReason"), entry.len()) else {
                return Ok(None);
            };
            pairs.push((state, reason));
        }
        let mut made = Vec::with_capacity(pairs.len());
        for (state, reason) in pairs {
            let key = (state.to_string(), reason.to_string());
            let found = self.shared.lock().ok().and_then(|m| m.get(&key).map(|o| o.clone_ref(py)));
            let value = match found {
                Some(value) => value,
                None => {
                    let entry = PyDict::new(py);
                    entry.set_item("State", state.as_ref())?;
                    entry.set_item("OutReason", reason.as_ref())?;
                    let one = convert.bind(py).call1((PyList::new(py, [entry])?,))?;
                    let value = one.get_item(0)?.unbind();
                    if let Ok(mut shared) = self.shared.lock() {
                        if shared.len() >= SHARED_MAX {
                            shared.clear();
                        }
                        shared.insert(key, value.clone_ref(py));
                    }
                    value
                }
            };
            made.push(value);
        }
        Ok(Some(PyTuple::new(py, made)?.into_any()))
    }
}

/// An integer or timestamp field as the wire has it (`field_reader`'s test): unset when
/// absent, null or `""`; its text when a non-empty string; anything else is the Python
/// path's to read (it converts a bare number or reports a bad value).
enum Scalar<'a> {
    Unset,
    Text(&'a str),
    Other,
}

fn scalar_text<'a>(value: &'a Option<Bound<'_, PyAny>>) -> PyResult<Scalar<'a>> {
    let Some(value) = value else {
        return Ok(Scalar::Unset);
    };
    if value.is_none() {
        return Ok(Scalar::Unset);
    }
    if !value.is_exact_instance_of::<PyString>() {
        return Ok(Scalar::Other);
    }
    let text = value.cast::<PyString>()?.to_str()?;
    Ok(if text.is_empty() { Scalar::Unset } else { Scalar::Text(text) })
}

/// Microseconds since 1970-01-01 of a timestamp in the wire's own form, or None for
/// anything else (the Python path then reads it, as `datetime.fromisoformat` does).
pub fn wire_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<i64> {
        let mut n: i64 = 0;
        for &c in &b[from..to] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let fraction = match b.len() {
        20 => 0,
        24 if b[19] == b'.' => digits(20, 23)? * 1000,
        27 if b[19] == b'.' => digits(20, 26)?,
        _ => return None,
    };
    if year < 1 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day < 1 || day > days_in[(month - 1) as usize] {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + fraction)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The redelivery digest of a wire object's compact JSON (`facts.wire_digest`):
/// CRC-32 and Adler-32 side by side, as zlib computes them.
pub fn checksum(data: &[u8]) -> u64 {
    u64::from(crc32fast::hash(data)) | (u64::from(adler2::adler32_slice(data)) << 32)
}

/// The digest of a wire object (`facts.wire_digest`): the checksum of the compact JSON
/// `orjson.dumps` writes of it, written here for the values a wire object holds
/// (strings, integers, booleans, null, objects and arrays); anything else (a float, a
/// key that is no string, an integer orjson cannot write, 255 levels of nesting) is
/// `orjson.dumps`' own, called as the reference calls it. None when orjson cannot write
/// it (such an event is never taken for a redelivery).
pub fn digest(py: Python<'_>, obj: &Bound<'_, PyDict>, dumps: &Bound<'_, PyAny>, buffer: &mut Vec<u8>) -> PyResult<Option<u64>> {
    buffer.clear();
    if write_json(buffer, obj.as_any(), 0)? {
        return Ok(Some(checksum(buffer)));
    }
    match dumps.call1((obj,)) {
        Ok(data) => Ok(Some(checksum(data.cast::<pyo3::types::PyBytes>()?.as_bytes()))),
        Err(error) if error.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => Ok(None),
        Err(error) => Err(error),
    }
}

/// orjson's depth limit: deeper values are its to refuse.
const MAX_DEPTH: usize = 254;

/// Write `value` as orjson writes it; false when it is not a value written here.
fn write_json(out: &mut Vec<u8>, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<bool> {
    if depth > MAX_DEPTH {
        return Ok(false);
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if value.is_exact_instance_of::<PyString>() {
        let Ok(text) = value.cast::<PyString>()?.to_str() else {
            return Ok(false); // a lone surrogate: orjson's to refuse
        };
        write_str(out, text);
    } else if value.is_exact_instance_of::<pyo3::types::PyBool>() {
        out.extend_from_slice(if value.is_truthy()? { b"true" } else { b"false" });
    } else if value.is_exact_instance_of::<pyo3::types::PyInt>() {
        if let Ok(n) = value.extract::<i64>() {
            out.extend_from_slice(n.to_string().as_bytes());
        } else if let Ok(n) = value.extract::<u64>() {
            out.extend_from_slice(n.to_string().as_bytes());
        } else {
            return Ok(false);
        }
    } else if value.is_exact_instance_of::<PyDict>() {
        out.push(b'{');
        for (n, (key, item)) in value.cast::<PyDict>()?.iter().enumerate() {
            if !key.is_exact_instance_of::<PyString>() {
                return Ok(false);
            }
            let Ok(key) = key.cast::<PyString>()?.to_str() else {
                return Ok(false);
            };
            if n > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.push(b':');
            if !write_json(out, &item, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b'}');
    } else if value.is_exact_instance_of::<PyList>() {
        out.push(b'[');
        for (n, item) in value.cast::<PyList>()?.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if !write_json(out, &item, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b']');
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Whether any byte of `word` may need an escape (`"`, `\` or below 0x20): the usual
/// zero-byte test, eight bytes at a time. It may flag a word that needs none (a borrow
/// runs into the next byte), never miss one; the bytes of a flagged word are checked
/// one by one.
fn may_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote & HIGH;
    let slash = word ^ (ONES * u64::from(b'\\'));
    let slash = slash.wrapping_sub(ONES) & !slash & HIGH;
    (below | quote | slash) != 0
}

/// The index of the first byte from `start` on that needs an escape.
fn next_escape(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    while at + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        if may_escape(u64::from_le_bytes(word)) {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').map(|n| at + n)
}

/// A JSON string as orjson escapes it: `"`, `\` and the control characters (short forms
/// for `\b \t \n \f \r`, `\u00XX` in lower case for the rest); everything else as UTF-8.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(i) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
