//! JSON Lines read by the core itself: a line's bytes in, its events applied to their
//! sessions, with no Python value made of what the engine does not keep (issue 31's
//! "reader in the core").
//!
//! The reader (`wire/reader.py`) still owns the file: gzip, the first line's choice
//! between JSON Lines and one document, line limits, and every error. It offers each
//! later line to [`Lines::feed_line`], which takes the usual shapes (an event, a keyed
//! envelope, a get-next-event response) and answers how many events it applied, or None
//! when the line is the reader's after all (not JSON the core reads as orjson does, an
//! array, a shape it does not know): then nothing of it was applied.
//!
//! An event of a type the core has no facts reader for, with a field the codec must
//! convert or report, or of a session not yet made, is handed to the caller's
//! `on_wire(key, wire, source)` as the object orjson would have made and the `Source`
//! the reader would have made, in its place in the line: that is the very path every
//! event took before, so both paths mean the same by construction.

use rustc_hash::FxHashMap as HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::engine::{Core, Input, Kit, Src};
use crate::json::{self, Val};
use crate::wire::{checksum, Facts};

#[pyclass(module = "session_fsm._native")]
pub struct Lines {
    kit: Py<Kit>,
    /// The engine's sessions the core has met, by key (asked of `lookup` once each).
    sessions: HashMap<String, Py<Core>>,
    /// `key -> Core | None`: the core of the engine's session `key`, None when there is
    /// none yet (its first event goes to `on_wire`, which makes it).
    lookup: Py<PyAny>,
    on_wire: Py<PyAny>,
    /// Called with each event's changes when changes are wanted.
    publish: Py<PyAny>,
    /// The engine's subscribers: changes are made while there are any, or `always`.
    subscribers: Py<PyList>,
    always: bool,
    buffer: Vec<u8>,
}

/// The events of a line, the session key they belong to (None: the file's) and their
/// batch, or None when the reader must read the line.
type Shape<'v, 'a> = (Vec<&'v Val<'a>>, Option<&'v str>, Option<(i64, i64)>);

fn is_event(value: &Val<'_>) -> bool {
    matches!(value, Val::Obj(_)) && (value.has("Type") || value.has("type"))
}

/// `reader._file_items`'s two common lines and `_value_items`' objects, for values that
/// hold only events: anything else (an array, a bad envelope) is the reader's.
fn shape<'v, 'a>(value: &'v Val<'a>, line: i64) -> Option<Shape<'v, 'a>> {
    if !matches!(value, Val::Obj(_)) {
        return None;
    }
    let (events, key, batch): Shape<'v, 'a> = match (value.get("session"), value.get("events")) {
        (None, None) => (vec![value], None, None),
        // the reader's fast path for a keyed event leaves its batch to the line
        (Some(Val::Str(key)), None) => (vec![value.get("event")?], Some(key.as_ref()), None),
        (Some(Val::Str(key)), Some(Val::Arr(items))) => (items.iter().collect(), Some(key.as_ref()), Some((line, 0))),
        (Some(_), _) => return None,
        (None, Some(Val::Arr(items))) => (items.iter().collect(), None, Some((line, 0))),
        (None, Some(_)) => return None,
    };
    events.iter().all(|event| is_event(event)).then_some((events, key, batch))
}

impl Lines {
    fn core_of(&mut self, py: Python<'_>, key: &str) -> PyResult<Option<Py<Core>>> {
        if let Some(found) = self.sessions.get(key) {
            return Ok(Some(found.clone_ref(py)));
        }
        let found = self.lookup.bind(py).call1((key,))?;
        if found.is_none() {
            return Ok(None);
        }
        let core: Py<Core> = found.extract()?;
        self.sessions.insert(key.to_owned(), core.clone_ref(py));
        Ok(Some(core))
    }

    /// Apply one event in the core; false when it must go to `on_wire` (nothing applied).
    fn apply(&mut self, py: Python<'_>, key: &str, event: &Val<'_>, raw: Option<&[u8]>, src: &Src,
             emit: bool) -> PyResult<bool> {
        let Val::Obj(pairs) = event else {
            return Ok(false);
        };
        let Some(core) = self.core_of(py, key)? else {
            return Ok(false);
        };
        // the digest of the JSON orjson writes of the event: the line's own bytes when
        // they are that JSON already (a recorder's lines), else written here
        let digest = match raw.filter(|raw| json::canonical(raw)) {
            Some(raw) => Some(checksum(raw)),
            None => {
                self.buffer.clear();
                if !json::write(&mut self.buffer, event, 0) {
                    return Ok(false);
                }
                Some(checksum(&self.buffer))
            }
        };
        let kit_ref = self.kit.clone_ref(py);
        let kit = kit_ref.get();
        let type_name = match event.get("Type") {
            Some(Val::Str(name)) => Some(name.as_ref()),
            _ => None,
        };
        let (src, batch) = (Some(src.clone_ref(py)), Some(src.clone_ref(py)));
        // a frequent type: its facts read here, as the codec's field_reader reads them
        let read = match type_name.and_then(|name| kit.readers.get(name)) {
            Some(spec) => spec
                .read_val(py, pairs, kit.from_iso.bind(py), kit.missing.bind(py))?
                .map(|facts| (spec.route, facts)),
            None => None,
        };
        let done = match read {
            Some((route, facts)) => {
                let mut core = core.borrow_mut(py);
                core.emit = emit;
                let done = core.apply_input(py, route, &Input::Facts(&facts), digest, src, batch, Vec::new());
                core.emit = true;
                done
            }
            None => {
                // any other type, or a frequent one field_reader leaves to decode() (an
                // integer ID, a JSON boolean): read_event decodes it, and so does this,
                // and field_reader's facts are decode()'s whenever it answers (a bad
                // value goes the shared path, which reports it)
                let Ok(typed) = kit.decode.bind(py).call1((json::to_py(py, event)?,)) else {
                    return Ok(false);
                };
                let Some(route) = kit.route_index.bind(py).get_item(typed.get_type())? else {
                    return Ok(false);
                };
                let route: usize = route.extract()?;
                let Some(found) = kit.routes.get(route) else {
                    return Ok(false);
                };
                let facts;
                let input = if found.facts {
                    let values = kit.facts_of_event.bind(py).call1((&typed,))?;
                    facts = Facts::of_tuple(&values, &found.timed, kit.micros.bind(py))?;
                    Input::Facts(&facts)
                } else {
                    Input::Event(&typed)
                };
                let mut core = core.borrow_mut(py);
                core.emit = emit;
                let done = core.apply_input(py, route, &input, digest, src, batch, Vec::new());
                core.emit = true;
                done
            }
        };
        let changes: Py<PyTuple> = done?;
        // the session is no longer borrowed: a subscriber may look at it
        if emit && !changes.bind(py).is_empty() {
            self.publish.bind(py).call1((changes,))?;
        }
        Ok(true)
    }
}

#[pymethods]
impl Lines {
    #[new]
    fn new(kit: Py<Kit>, lookup: Py<PyAny>, on_wire: Py<PyAny>, publish: Py<PyAny>,
           subscribers: Py<PyList>, always: bool) -> Self {
        Self { kit, sessions: HashMap::default(), lookup, on_wire, publish, subscribers, always,
               buffer: Vec::new() }
    }

    /// Apply the lines of `data` from its start, the first of them line `line` of
    /// `path`, up to the first one the reader must read: a line the core does not take
    /// (see `line`), one longer than `limit` bytes, or the last one when it has no
    /// newline and `last` is false (its end is still to come). Blank lines are taken
    /// (the reader skips them too). Returns (bytes taken, lines taken, events applied).
    fn feed_chunk(&mut self, py: Python<'_>, data: &[u8], path: Bound<'_, PyString>, line: i64,
                  limit: usize, last: bool) -> PyResult<(usize, i64, usize)> {
        let (mut at, mut lines, mut events) = (0usize, 0i64, 0usize);
        while at < data.len() {
            let rest = &data[at..];
            let (end, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(n) => (n, n + 1),
                None if last => (rest.len(), rest.len()),
                None => break,
            };
            if end > limit {
                break;
            }
            let text = &rest[..next];
            if !text.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) {
                match self.line(py, text, &path, line + lines)? {
                    Some(n) => events += n,
                    None => break,
                }
            }
            at += next;
            lines += 1;
        }
        Ok((at, lines, events))
    }
}

impl Lines {
    /// Apply the events of line `line` of `path` (`path` is also the session key of
    /// events without an envelope): how many there were, or None when the reader must
    /// read the line (nothing of it was applied).
    fn line(&mut self, py: Python<'_>, data: &[u8], path: &Bound<'_, PyString>, line: i64) -> PyResult<Option<usize>> {
        let Some(value) = json::parse(data) else {
            return Ok(None);
        };
        let Some((events, key, batch)) = shape(&value, line) else {
            return Ok(None);
        };
        // a line of one event, bare or in a keyed envelope (`"event"`): its bytes are at hand
        let single = batch.is_none().then_some(key.is_none());
        let key = match key {
            Some(key) => key,
            None => path.to_str()?,
        };
        let src = Src::Line { path: path.clone().unbind(), line, batched: batch.is_some() };
        let raw = single.and_then(|bare| json::event_bytes(data, bare));
        for event in &events {
            let emit = self.always || !self.subscribers.bind(py).is_empty();
            if !self.apply(py, key, event, raw, &src, emit)? {
                let source = src.obj(py, self.kit.get())?;
                self.on_wire.bind(py).call1((key, json::to_py(py, event)?, source))?;
            }
        }
        Ok(Some(events.len()))
    }
}
