//! A line's JSON, read by the core itself: a value that borrows its strings from the
//! line's bytes, read with serde_json, and what the core does with it (the digest's
//! JSON, the Python value of a field the codec converts, the whole event for the shared
//! Python path).
//!
//! It reads only what orjson reads to the same Python value, so that what the core
//! applies is exactly what the reader would have handed the engine: a float, an integer
//! past 64 bits, a key twice in one object or nesting past serde_json's limit is an
//! error here, and the line goes to the Python reader, which reads (or reports) it as
//! always. A line that fails here is never partly applied.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value whose strings borrow from the input where they can (no escapes).
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    /// Keys in input order, each at most once.
    Obj(Vec<(Cow<'a, str>, Val<'a>)>),
}

impl<'a> Val<'a> {
    /// The value of `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Val<'a>> {
        match self {
            Val::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// Parse one line (its trailing newline and spaces allowed), or None when it is not
/// JSON the core reads as orjson does (see the module's documentation).
pub fn parse(line: &[u8]) -> Option<Val<'_>> {
    // the whole line checked as UTF-8 at once (orjson refuses a line with invalid bytes
    // anywhere too), so serde_json need not check each string again
    let text = std::str::from_utf8(line).ok()?;
    serde_json::from_str(text).ok()
}

impl<'de> Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

/// Whether `key` is already among `pairs`: a small filter on length and end bytes first,
/// so the usual object (twenty distinct keys) costs no string comparison at all.
fn seen(pairs: &[(Cow<'_, str>, Val<'_>)], filter: &mut [u64; 2], key: &str) -> bool {
    let b = key.as_bytes();
    let mix = b.len().wrapping_mul(31) + b.first().map_or(0, |&c| usize::from(c) * 7) + b.last().map_or(0, |&c| usize::from(c));
    let bit = mix % 128;
    let (word, mask) = (bit / 64, 1u64 << (bit % 64));
    if filter[word] & mask == 0 {
        filter[word] |= mask;
        return false;
    }
    pairs.iter().any(|(k, _)| k == key)
}

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Val<'de>, E> {
        Ok(Val::Int(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Val<'de>, E> {
        Ok(Val::UInt(value))
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Val<'de>, E> {
        // orjson's float and its text are its own: the Python reader's to read
        Err(E::custom("a float"))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Val::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        let mut pairs: Vec<(Cow<'de, str>, Val<'de>)> = Vec::with_capacity(8);
        let mut filter = [0u64; 2];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: Val<'de> = map.next_value()?;
            if seen(&pairs, &mut filter, &key.0) {
                // a dict keeps one of the two: the Python reader's to read
                return Err(de::Error::custom("a key twice"));
            }
            pairs.push((key.0, value));
        }
        Ok(Val::Obj(pairs))
    }
}

/// An object's key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E>(self, value: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// orjson's nesting limit when it writes: deeper values are not digested here.
const MAX_DEPTH: usize = 254;

/// Write `value` as `orjson.dumps` writes what `orjson.loads` made of it; false when
/// nested past orjson's limit (the caller then leaves the event to the Python path).
pub fn write(out: &mut Vec<u8>, value: &Val<'_>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match value {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Str(text) => crate::wire::write_str(out, text),
        Val::Arr(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                if !write(out, item, depth + 1) {
                    return false;
                }
            }
            out.push(b']');
        }
        Val::Obj(pairs) => {
            out.push(b'{');
            for (n, (key, item)) in pairs.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                crate::wire::write_str(out, key);
                out.push(b':');
                if !write(out, item, depth + 1) {
                    return false;
                }
            }
            out.push(b'}');
        }
    }
    true
}

/// The Python value `orjson.loads` makes of `value`.
pub fn to_py<'py>(py: Python<'py>, value: &Val<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Val::Null => py.None().into_bound(py),
        Val::Bool(flag) => flag.into_bound_py_any(py)?,
        Val::Int(n) => n.into_bound_py_any(py)?,
        Val::UInt(n) => n.into_bound_py_any(py)?,
        Val::Str(text) => PyString::new(py, text).into_any(),
        Val::Arr(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Val::Obj(pairs) => {
            let dict = PyDict::new(py);
            for (key, item) in pairs {
                dict.set_item(PyString::new(py, key), to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Whether `raw` is one JSON object exactly as `orjson.dumps` would write what
/// `orjson.loads` makes of it (given that it parsed as a [`Val`]: no float, no key twice):
/// no space outside strings, orjson's own escapes only, no `-0`, and the object ending
/// at the last byte. Then the digest is taken over `raw` itself, with no JSON written.
pub fn canonical(raw: &[u8]) -> bool {
    if raw.first() != Some(&b'{') {
        return false;
    }
    let mut depth = 0usize;
    let mut at = 0;
    while at < raw.len() {
        match raw[at] {
            b'"' => {
                at += 1;
                loop {
                    match raw.get(at) {
                        None => return false,
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let fine = match raw.get(at + 1) {
                                Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => {
                                    at += 2;
                                    true
                                }
                                // \u00XX, lower-case hex, for what has no short form
                                Some(b'u') => {
                                    let hex = raw.get(at + 2..at + 6);
                                    let code = hex.and_then(|h| std::str::from_utf8(h).ok())
                                        .filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                                        .and_then(|h| u32::from_str_radix(h, 16).ok());
                                    at += 6;
                                    matches!(code, Some(c) if c < 0x20 && !matches!(c, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d))
                                }
                                _ => false,
                            };
                            if !fine {
                                return false;
                            }
                            continue;
                        }
                        Some(_) => at += 1,
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                let Some(outer) = depth.checked_sub(1) else {
                    return false;
                };
                depth = outer;
                if depth == 0 && at + 1 != raw.len() {
                    return false; // the object ends before the slice does
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => return false,
            b'-' if raw.get(at + 1) == Some(&b'0') => return false,
            _ => {}
        }
        at += 1;
    }
    depth == 0
}

/// The bytes of the one event of `line`, when the line is a bare event or a keyed
/// envelope of one (`{"session":"K","event":{...}}`, as recorders write them); None
/// for any other line (its events' digests are then taken over their JSON written again).
pub fn event_bytes<'a>(line: &'a [u8], bare: bool) -> Option<&'a [u8]> {
    let end = line.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))? + 1;
    let line = &line[..end];
    if bare {
        return Some(line);
    }
    let rest = line.strip_prefix(b"{\"session\":\"")?;
    let close = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[close] != b'"' {
        return None;
    }
    let rest = rest[close + 1..].strip_prefix(b",\"event\":")?;
    rest.strip_suffix(b"}")
}
