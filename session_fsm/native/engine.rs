//! One agent session, natively: its records, its redelivery memory and every handler of
//! `session_fsm/engine/` (`session.py`, `agent.py`, `contacts.py`, `core.py`), line for
//! line, so that both engines say the same thing about every stream.
//!
//! What the core is handed: an event's *facts* (read by the Python codec, the same
//! `wire_reader` / `decode` both engines share, or by `wire.rs` exactly as that reader
//! reads them, from a wire dict or a line the core parsed itself, `lines.rs`), the
//! event's digest, where it came from and its batch. What it
//! hands back: the change values of `engine/changes.py`, built from the Python classes
//! the [`Kit`] holds. Values the engine never computes with (typed events kept whole,
//! sources, batches, timestamps) stay Python objects; states, statuses, ids and indices
//! are Rust values. Timestamps are compared through Python, so both engines order them
//! by the same rules.
//!
//! A record is exported as plain tuples (`export`) and restored from them (`restore`):
//! `engine/native.py` turns them into the reference's records, so snapshots and
//! checkpoints are the reference's own code on the same state.

use rustc_hash::{FxBuildHasher, FxHashMap as HashMap, FxHashSet as HashSet};

use indexmap::IndexMap;
use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::machine::Machine;
use crate::wire::{digest, Facts, TypeSpec};

/// How many agent, leg and contact digests a session remembers (`core.RECENT`).
const RECENT: usize = 16;
const UNAVAILABLE: &str = "Unavailable";
const CLOSE: &str = "close";
const NEXT_SET: &str = "next_set";
const NEXT_CLEARED: &str = "next_cleared";
const BAD_FIELD_APPLIED: &str = " (the rest of the event is applied)";
const CONTACT_STATES: [&str; 4] =
    ["InboundContact", "OutboundContact", "InboundConsult", "OutboundConsult"];

type Obj = Py<PyAny>;

/// A state, status or label: one of a few words every session shares (`Kit::name`), so a
/// session holds a pointer to it, not a copy.
type Word = std::sync::Arc<str>;

// --- what Python hands over once ---------------------------------------------------------

/// How the engine takes one event type (`session._Route`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handler {
    SessionStart,
    SessionEnd,
    RemoteEnd,
    HttpEnd,
    AgentState,
    AgentLeg,
    AgentError,
    SkillList,
    ChatText,
    Indicator,
    PageOpen,
    PopUrl,
    Mute,
    TakeOver,
    SupervisorMonitor,
    Custom,
    Hours,
    Unknown,
    Contact(usize),
    Signal,
    Noted,
}

pub(crate) struct Route {
    handler: Handler,
    /// Whether the handler takes facts (`route.read`), and which of their slots are
    /// timestamps the engine compares.
    pub(crate) facts: bool,
    pub(crate) timed: Vec<usize>,
    /// The wire `Type` (`cls.TYPE`), named in messages; a signal's name.
    type_name: String,
    repeats: bool,
    lifecycle: bool,
    end: bool,
}

/// One media's contact machine (`machines.contacts.ContactSpec`).
struct ContactKind {
    media: String,
    type_name: String,
    machine: Py<Machine>,
    initial: String,
    closed_state: String,
    entry: HashSet<String>,
    entry_by_call_type: HashMap<String, HashSet<String>>,
    closable: HashSet<String>,
    connected: HashSet<String>,
}

struct Rule {
    name: Obj,
    severity: Obj,
    error: bool,
}

/// Everything the core takes from the Python side, built once per process
/// (`engine/native.py`): the routes, the machines, the rule catalogue and the classes
/// of the values it hands back.
#[pyclass(frozen, module = "session_fsm._native")]
pub struct Kit {
    pub(crate) routes: Vec<Route>,
    /// The facts readers of the frequent types, by the wire's `Type`.
    pub(crate) readers: HashMap<String, TypeSpec>,
    pub(crate) from_iso: Obj,
    pub(crate) missing: Obj,
    pub(crate) micros: Obj,
    /// How many closed contacts a session keeps (`core.CLOSED_KEPT`).
    closed_kept: usize,
    dumps: Obj,
    session: Py<Machine>,
    agent_state: Py<Machine>,
    agent_leg: Py<Machine>,
    kinds: Vec<ContactKind>,
    rules: HashMap<String, Rule>,
    transition: Obj,
    agent_status: Obj,
    contact_details: Obj,
    acw_linked: Obj,
    link_moved: Obj,
    transcript_added: Obj,
    status_after_final: Obj,
    noted: Obj,
    violation: Obj,
    transcript_line: Obj,
    sequence_error: Obj,
    pub(crate) source_type: Obj,
    same_batch: Obj,
    /// `codec.decode`, `facts.facts_of_event` and each event class's route: what
    /// `read_event` does with an object of a type there is no facts reader for.
    pub(crate) decode: Obj,
    pub(crate) facts_of_event: Obj,
    pub(crate) route_index: Py<PyDict>,
    deadline: Obj,
    tuple_new: Obj,
    /// One Python string per machine name, state, trigger and status the changes carry
    /// (the reference interns them too): bounded, as statuses come from the wire.
    words: std::sync::Mutex<HashMap<String, Py<PyString>>>,
    /// The same words as Rust strings, for the records (bounded the same way).
    names: std::sync::Mutex<HashSet<Word>>,
}

thread_local! {
    /// The buffer the digest's JSON is written into, one for every session (a session's
    /// own would keep the room of its largest event for its whole life).
    static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most distinct words the kit keeps (a tenant has tens of statuses, not more).
const WORDS_MAX: usize = 4096;

impl Kit {
    /// `text` as a shared Rust string: a state, status or label a record keeps.
    fn name(&self, text: &str) -> Word {
        let Ok(mut names) = self.names.lock() else {
            return Word::from(text);
        };
        if let Some(found) = names.get(text) {
            return found.clone();
        }
        if names.len() >= WORDS_MAX {
            names.clear(); // the words already handed out stay valid
        }
        let made = Word::from(text);
        names.insert(made.clone());
        made
    }

    /// `text` as a shared Python string.
    fn word<'py>(&self, py: Python<'py>, text: &str) -> Bound<'py, PyAny> {
        let Ok(mut words) = self.words.lock() else {
            return PyString::new(py, text).into_any();
        };
        if let Some(found) = words.get(text) {
            return found.bind(py).clone().into_any();
        }
        if words.len() >= WORDS_MAX {
            words.clear();
        }
        let made = PyString::intern(py, text);
        words.insert(text.to_owned(), made.clone().unbind());
        made.into_any()
    }
}

fn item<'py>(map: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    map.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("the kit needs {key:?}")))
}

#[pymethods]
impl Kit {
    /// `routes`: `(handler, type name, repeats, lifecycle, end)` in route-index order;
    /// `machines`: the session, agent-state and agent-leg machines; `kinds`: per media
    /// `(media, wire type, machine, initial, closed, entry, entry by call type, closable,
    /// connected)`; `rules`: name -> `(RuleName, Severity, is an error)`; `classes`: the
    /// change classes and helpers by name.
    #[new]
    #[allow(clippy::type_complexity)]
    fn new(
        routes: Vec<(String, String, bool, bool, bool, bool, Vec<usize>)>,
        readers: Vec<(String, usize, Vec<(String, String, i64, Option<Obj>, Option<Obj>)>, usize, Vec<(String, usize)>)>,
        machines: &Bound<'_, PyDict>,
        kinds: Vec<(
            String,
            String,
            Py<Machine>,
            String,
            String,
            HashSet<String>,
            HashMap<String, HashSet<String>>,
            HashSet<String>,
            HashSet<String>,
        )>,
        rules: HashMap<String, (Obj, Obj, bool)>,
        classes: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let kinds: Vec<ContactKind> = kinds
            .into_iter()
            .map(|(media, type_name, machine, initial, closed_state, entry, by_type, closable, connected)| {
                ContactKind {
                    media,
                    type_name,
                    machine,
                    initial,
                    closed_state,
                    entry,
                    entry_by_call_type: by_type,
                    closable,
                    connected,
                }
            })
            .collect();
        let mut compiled = Vec::with_capacity(routes.len());
        for (handler, type_name, repeats, lifecycle, end, facts, timed) in routes {
            let handler = match handler.as_str() {
                "session_start" => Handler::SessionStart,
                "session_end" => Handler::SessionEnd,
                "remote_end" => Handler::RemoteEnd,
                "http_end" => Handler::HttpEnd,
                "agent_state" => Handler::AgentState,
                "agent_leg" => Handler::AgentLeg,
                "agent_error" => Handler::AgentError,
                "skill_list" => Handler::SkillList,
                "chat_text" => Handler::ChatText,
                "indicator" => Handler::Indicator,
                "page_open" => Handler::PageOpen,
                "pop_url" => Handler::PopUrl,
                "mute" => Handler::Mute,
                "take_over" => Handler::TakeOver,
                "supervisor_monitor" => Handler::SupervisorMonitor,
                "custom" => Handler::Custom,
                "hours" => Handler::Hours,
                "unknown" => Handler::Unknown,
                "signal" => Handler::Signal,
                "noted" => Handler::Noted,
                other => match other.strip_prefix("contact:") {
                    Some(media) => Handler::Contact(
                        kinds.iter().position(|k| k.media == media).ok_or_else(|| {
                            PyValueError::new_err(format!("no contact kind {media:?}"))
                        })?,
                    ),
                    None => return Err(PyValueError::new_err(format!("no handler {other:?}"))),
                },
            };
            compiled.push(Route { handler, facts, timed, type_name, repeats, lifecycle, end });
        }
        let machine = |name: &str| -> PyResult<Py<Machine>> { Ok(item(machines, name)?.extract()?) };
        let class = |name: &str| -> PyResult<Obj> { Ok(item(classes, name)?.unbind()) };
        let mut specs = HashMap::default();
        for (type_name, route, fields, slots, extras) in readers {
            let spec = TypeSpec::new(route, fields, slots, extras).map_err(PyValueError::new_err)?;
            specs.insert(type_name, spec);
        }
        Ok(Self {
            routes: compiled,
            readers: specs,
            from_iso: class("from_iso")?,
            missing: class("missing")?,
            micros: class("micros")?,
            closed_kept: item(classes, "closed_kept")?.extract()?,
            dumps: class("dumps")?,
            session: machine("session")?,
            agent_state: machine("agent_state")?,
            agent_leg: machine("agent_leg")?,
            kinds,
            rules: rules
                .into_iter()
                .map(|(name, (rule, severity, error))| (name, Rule { name: rule, severity, error }))
                .collect(),
            transition: class("Transition")?,
            agent_status: class("AgentStatus")?,
            contact_details: class("ContactDetails")?,
            acw_linked: class("AcwLinked")?,
            link_moved: class("LinkMoved")?,
            transcript_added: class("TranscriptAdded")?,
            status_after_final: class("StatusAfterFinal")?,
            noted: class("Noted")?,
            violation: class("Violation")?,
            transcript_line: class("TranscriptLine")?,
            sequence_error: class("SequenceError")?,
            source_type: class("Source")?,
            same_batch: class("same_batch")?,
            decode: class("decode")?,
            facts_of_event: class("facts_of_event")?,
            route_index: item(classes, "route_index")?.cast_into::<PyDict>()?.unbind(),
            deadline: class("deadline")?,
            tuple_new: class("tuple_new")?,
            words: std::sync::Mutex::new(HashMap::default()),
            names: std::sync::Mutex::new(HashSet::default()),
        })
    }
}

// --- the records -------------------------------------------------------------------------

/// A timestamp the engine compares: its microseconds since 1970, and the Python value
/// the changes and records hand back.
struct Time {
    us: i64,
    obj: Obj,
}

impl Time {
    fn copy(&self, py: Python<'_>) -> Time {
        Time { us: self.us, obj: self.obj.clone_ref(py) }
    }
}

fn copy_time(py: Python<'_>, value: &Option<Time>) -> Option<Time> {
    value.as_ref().map(|t| t.copy(py))
}

fn time_obj(py: Python<'_>, value: &Option<Time>) -> Option<Obj> {
    value.as_ref().map(|t| t.obj.clone_ref(py))
}

/// Whether `a` is before `b` (both known).
fn earlier(a: &Option<Time>, b: &Option<Time>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.us < b.us)
}

/// The timestamp in facts slot `slot`, if any.
fn fact_time(facts: &Facts<'_>, slot: usize) -> Option<Time> {
    let us = facts.us(slot)?;
    facts.obj(slot).map(|obj| Time { us, obj })
}

/// Where an event came from, or the batch it came in: a value from Python (a `Source`
/// or any hashable batch), or a line of a file the core read itself, made into the
/// `Source` the reader would have made only when asked (most never are).
pub(crate) enum Src {
    Py(Obj),
    /// `batched`: in a response or envelope of the line's own (`Source.batch` is
    /// `(line, 0)`), else the line is the batch (None): the same batch either way.
    Line { path: Py<PyString>, line: i64, batched: bool },
}

impl Src {
    pub(crate) fn clone_ref(&self, py: Python<'_>) -> Src {
        match self {
            Src::Py(obj) => Src::Py(obj.clone_ref(py)),
            Src::Line { path, line, batched } => Src::Line { path: path.clone_ref(py), line: *line, batched: *batched },
        }
    }

    /// The Python value: `Source(path, line, batch)` for a line.
    pub(crate) fn obj(&self, py: Python<'_>, kit: &Kit) -> PyResult<Obj> {
        match self {
            Src::Py(obj) => Ok(obj.clone_ref(py)),
            Src::Line { path, line, batched } => {
                let batch = batched.then_some((*line, 0));
                Ok(kit.source_type.bind(py).call1((path.bind(py), *line, batch))?.unbind())
            }
        }
    }

    /// `str(source)`.
    fn text(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        match self {
            Src::Py(obj) => Ok(obj.bind(py).str()?.unbind()),
            Src::Line { path, line, .. } => Ok(PyString::new(py, &format!("{}:{line}", path.bind(py).to_str()?)).unbind()),
        }
    }
}

/// Whether two lines are of one batch (`errors.same_batch` on the sources they make).
fn same_line_batch(py: Python<'_>, one: &Src, other: &Src) -> PyResult<Option<bool>> {
    match (one, other) {
        (Src::Line { path: p1, line: l1, .. }, Src::Line { path: p2, line: l2, .. }) => {
            // a line's batch is (line, 0) whether it is the line's or its response's
            let same_path = p1.is(p2) || p1.bind(py).to_str()? == p2.bind(py).to_str()?;
            Ok(Some(same_path && l1 == l2))
        }
        _ => Ok(None),
    }
}

fn clone_src(py: Python<'_>, value: &Option<Src>) -> Option<Src> {
    value.as_ref().map(|v| v.clone_ref(py))
}

fn src_obj(py: Python<'_>, kit: &Kit, value: &Option<Src>) -> PyResult<Option<Obj>> {
    value.as_ref().map(|v| v.obj(py, kit)).transpose()
}

struct Acw {
    contact_id: Option<String>,
    started: Option<Obj>,
    timeout_s: Option<i64>,
    deadline: Option<Obj>,
    event_index: i64,
}

struct Agent {
    state: Word,
    label: Word,
    out_reason: Word,
    since: Option<Time>,
    is_acw: bool,
    acw_timeout_s: Option<i64>,
    next_states: Obj,
    acw: Option<Box<Acw>>,
    entered_index: i64,
    entered_source: Option<Src>,
    interval_index: Option<i64>,
    contact_seen: bool,
    last_digest: Option<u64>,
}

struct Leg {
    leg_id: Option<String>,
    state: Word,
    status: Word,
    final_: bool,
    errors: Option<Vec<Obj>>,
    last_digest: Option<u64>,
}

struct Contact {
    contact_id: String,
    media: usize,
    state: Word,
    status: Word,
    first_index: i64,
    final_: bool,
    is_linked: bool,
    is_inbound: Option<bool>,
    call_type: Option<String>,
    skill: Option<String>,
    started: Option<Obj>,
    last_change: Option<Time>,
    disconnect_code: Option<String>,
    final_index: Option<i64>,
    acw_phase_index: Option<i64>,
    room_id: Option<String>,
    transcript: Option<Py<PyList>>,
    /// The transcript's lines as a set, made on first need (a chat's every event repeats
    /// its messages so far: hashing them all again each time is quadratic).
    transcript_seen: Option<Py<PySet>>,
    payload: Option<Obj>,
    errors: Option<Vec<Obj>>,
    last_digest: Option<u64>,
    desktop: Option<Obj>,
}

impl Contact {
    fn new(contact_id: String, media: usize, state: Word, status: Word, first_index: i64) -> Self {
        Self {
            contact_id,
            media,
            state,
            status,
            first_index,
            final_: false,
            is_linked: false,
            is_inbound: None,
            call_type: None,
            skill: None,
            started: None,
            last_change: None,
            disconnect_code: None,
            final_index: None,
            acw_phase_index: None,
            room_id: None,
            transcript: None,
            transcript_seen: None,
            payload: None,
            errors: None,
            last_digest: None,
            desktop: None,
        }
    }

    /// Voice path down, contact still open (`ContactRecord.in_acw`).
    fn in_acw(&self) -> bool {
        self.status.to_lowercase() == "disconnected" && !self.final_
    }
}

#[derive(Default)]
struct Info {
    session_id: Option<String>,
    agent_id: Option<String>,
    bus_no: Option<String>,
    status: Word,
    end_reason: Option<String>,
    end_message: Option<String>,
    end_success: Option<bool>,
    end_index: Option<i64>,
    saw_start: bool,
    saw_end_event: bool,
    remote_end_index: Option<i64>,
    remote_end_source: Option<Src>,
    first_source: Option<Src>,
}

/// Where a violation points and what a strict-mode raise names (`SessionCore._violate`).
struct At<'a> {
    contact_id: Option<&'a str>,
    machine: &'a str,
    state: Option<&'a str>,
    trigger: Option<&'a str>,
    strict: bool,
    change: bool,
}

impl Default for At<'_> {
    fn default() -> Self {
        Self { contact_id: None, machine: "session", state: None, trigger: None, strict: true, change: true }
    }
}

/// A session's rarely used records (`Core::rare`), apart so a session without them
/// carries one pointer, not their room.
#[derive(Default)]
struct Rare {
    monitoring: Option<Obj>,
    monitor_contact_id: Option<String>,
    take_over: Option<Obj>,
    past_legs: Vec<Leg>,
    session_errors: Vec<Obj>,
    indicators: Option<IndexMap<String, Obj, FxBuildHasher>>,
    page_opens: Option<IndexMap<String, Obj, FxBuildHasher>>,
    pop_urls: Option<IndexMap<String, Obj, FxBuildHasher>>,
    custom_events: Option<IndexMap<String, Obj, FxBuildHasher>>,
    skill_list: Option<Obj>,
    hours_of_operation: Option<Obj>,
    muted: Option<bool>,
    signals: Option<IndexMap<String, i64, FxBuildHasher>>,
    unknown_types: Option<IndexMap<String, i64, FxBuildHasher>>,
    rooms: IndexMap<String, String, FxBuildHasher>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.monitoring.is_none()
            && self.monitor_contact_id.is_none()
            && self.take_over.is_none()
            && self.past_legs.is_empty()
            && self.session_errors.is_empty()
            && self.indicators.is_none()
            && self.page_opens.is_none()
            && self.pop_urls.is_none()
            && self.custom_events.is_none()
            && self.skill_list.is_none()
            && self.hours_of_operation.is_none()
            && self.muted.is_none()
            && self.signals.is_none()
            && self.unknown_types.is_none()
            && self.rooms.is_empty()
    }
}

/// One agent session (`engine.session.AgentSession`), natively.
#[pyclass(module = "session_fsm._native")]
pub struct Core {
    kit: Py<Kit>,
    /// The session's key: the very string the engine keys it by (no copy of its own).
    key_obj: Py<PyString>,
    #[pyo3(get)]
    strict: bool,
    /// The rules not reported (`ignore`): none, usually.
    ignore: Option<Box<HashSet<String>>>,
    info: Info,
    agent: Agent,
    leg: Option<Leg>,
    // boxed: a record is some 400 bytes and a map's table keeps room for several
    contacts: IndexMap<String, Box<Contact>, FxBuildHasher>,
    closed: IndexMap<String, Box<Contact>, FxBuildHasher>,
    linked_contact_id: Option<String>,
    /// What few sessions have (supervision, desktop events, chat rooms...): one
    /// pointer until one does.
    rare: Option<Box<Rare>>,
    violations: Vec<Obj>,
    #[pyo3(get)]
    position: i64,
    #[pyo3(get)]
    events: i64,
    #[pyo3(get)]
    finished: bool,
    start_batch: Option<Src>,
    last_ended_contact: Option<(String, i64)>,
    source: Option<Src>,
    index: i64,
    out: Vec<Obj>,
    recent: Option<Box<[u64; RECENT]>>,
    recent_at: usize,
    batch: Option<Src>,
    batch_digests: Vec<Option<u64>>,
    previous_batch: Vec<Option<u64>>,
    repeating: bool,
    /// Whether changes are made: false while the core reads lines nobody asked the
    /// changes of (`Lines`); violations are kept either way.
    pub(crate) emit: bool,
}

fn opt<'py>(value: Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    if value.is_none() {
        None
    } else {
        Some(value)
    }
}

/// A string field of a facts tuple or typed event: None for None (and for "" where the
/// reference reads `x or ...`, the caller filters).
fn text(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    value.extract()
}

/// `f"{x}"` of an optional string: None prints as `None`.
fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("None")
}

fn shown_int(value: Option<i64>) -> String {
    value.map_or_else(|| "None".to_owned(), |n| n.to_string())
}

fn nonempty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Python's `repr()` of an optional string, as the reference's `{x!r}` writes it.
fn repr(py: Python<'_>, value: Option<&str>) -> PyResult<String> {
    match value {
        None => Ok("None".to_owned()),
        Some(s) => Ok(PyString::new(py, s).repr()?.to_string()),
    }
}

fn clone_opt(py: Python<'_>, value: &Option<Obj>) -> Option<Obj> {
    value.as_ref().map(|v| v.clone_ref(py))
}


impl Core {
    fn fresh(kit: Py<Kit>, key: Py<PyString>, strict: bool, ignore: HashSet<String>, py: Python<'_>) -> Self {
        let names = kit.get();
        let (session_initial, agent_initial, empty) = (names.name("not_started"), names.name("Unknown"), names.name(""));
        Self {
            kit,
            key_obj: key,
            strict,
            ignore: if ignore.is_empty() { None } else { Some(Box::new(ignore)) },
            info: Info { status: session_initial, ..Info::default() },
            agent: Agent {
                state: agent_initial,
                label: empty.clone(),
                out_reason: empty,
                since: None,
                is_acw: false,
                acw_timeout_s: None,
                next_states: PyTuple::empty(py).into_any().unbind(),
                acw: None,
                entered_index: 0,
                entered_source: None,
                interval_index: None,
                contact_seen: true,
                last_digest: None,
            },
            leg: None,
            contacts: IndexMap::default(),
            closed: IndexMap::default(),
            linked_contact_id: None,
            rare: None,
            violations: Vec::new(),
            position: 0,
            events: 0,
            finished: false,
            start_batch: None,
            last_ended_contact: None,
            source: None,
            index: 0,
            out: Vec::new(),
            recent: None,
            recent_at: 0,
            batch: None,
            batch_digests: Vec::new(),
            previous_batch: Vec::new(),
            repeating: false,
            emit: true,
        }
    }

    /// A change value: `tuple.__new__(cls, fields)`, as the reference's `_new`.
    fn change<'py>(&self, py: Python<'py>, cls: &Obj, fields: Vec<Bound<'py, PyAny>>) -> PyResult<Obj> {
        let kit = self.kit.get();
        let tuple = PyTuple::new(py, fields)?;
        Ok(kit.tuple_new.bind(py).call1((cls.bind(py), tuple))?.unbind())
    }

    fn taken(&mut self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        let changes = PyTuple::new(py, self.out.drain(..))?;
        Ok(changes.unbind())
    }

    fn head<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let mut fields = Vec::with_capacity(10);
        fields.push(self.key_obj.bind(py).clone().into_any());
        fields.push(self.index.into_bound_py_any(py)?);
        Ok(fields)
    }

    // --- violations and changes ----------------------------------------------------------

    fn violate(&mut self, py: Python<'_>, rule: &str, message: String, at: At<'_>) -> PyResult<()> {
        if self.ignore.as_ref().is_some_and(|ignored| ignored.contains(rule)) {
            return Ok(());
        }
        let kit_ref = self.kit.clone_ref(py);
        let kit = kit_ref.get();
        let found = kit
            .rules
            .get(rule)
            .ok_or_else(|| PyValueError::new_err(format!("no rule {rule:?}")))?;
        if at.strict && self.strict && found.error {
            let kwargs = PyDict::new(py);
            kwargs.set_item("machine", at.machine)?;
            kwargs.set_item("subject", at.contact_id)?;
            kwargs.set_item("state", at.state)?;
            kwargs.set_item("trigger", at.trigger)?;
            kwargs.set_item("event_index", self.index)?;
            kwargs.set_item("session", self.key_obj.bind(py))?;
            let error = kit.sequence_error.bind(py).call((found.name.bind(py), message), Some(&kwargs))?;
            return Err(PyErr::from_value(error));
        }
        let source = match &self.source {
            Some(source) => Some(source.text(py)?),
            None => None,
        };
        let violation = kit
            .violation
            .bind(py)
            .call1((
                found.name.bind(py),
                found.severity.bind(py),
                self.key_obj.bind(py),
                self.index,
                at.contact_id,
                source,
                message,
            ))?
            .unbind();
        if at.change && self.emit {
            self.out.push(violation.clone_ref(py));
        }
        self.violations.push(violation);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn moved(
        &mut self,
        py: Python<'_>,
        machine: &str,
        subject: Option<&str>,
        from: &str,
        to: &str,
        trigger: &str,
        status: Option<&str>,
        at: Option<&Obj>,
        final_: bool,
    ) -> PyResult<()> {
        if !self.emit {
            return Ok(());
        }
        let kit = self.kit.clone_ref(py);
        let words = kit.get();
        let mut fields = self.head(py)?;
        fields.push(words.word(py, machine));
        fields.push(subject.into_bound_py_any(py)?);
        fields.push(words.word(py, from));
        fields.push(words.word(py, to));
        fields.push(words.word(py, trigger));
        fields.push(match status {
            Some(status) => words.word(py, status),
            None => py.None().into_bound(py),
        });
        fields.push(at.map(|t| t.bind(py).clone()).into_bound_py_any(py)?);
        fields.push(final_.into_bound_py_any(py)?);
        let change = self.change(py, &kit.get().transition, fields)?;
        self.out.push(change);
        Ok(())
    }

    fn note(&mut self, py: Python<'_>, event_type: &str, subject: Bound<'_, PyAny>, value: Bound<'_, PyAny>) -> PyResult<()> {
        if !self.emit {
            return Ok(());
        }
        let mut fields = self.head(py)?;
        fields.push(event_type.into_bound_py_any(py)?);
        fields.push(subject);
        fields.push(value);
        let kit = self.kit.clone_ref(py);
        let change = self.change(py, &kit.get().noted, fields)?;
        self.out.push(change);
        Ok(())
    }

    fn repeats_recent(&self, digest: Option<u64>) -> bool {
        match (digest, &self.recent) {
            (Some(d), Some(ring)) => ring.contains(&d),
            _ => false,
        }
    }

    fn in_join_batch(&self, py: Python<'_>, batch: &Option<Src>) -> PyResult<bool> {
        if !self.info.saw_start {
            return Ok(true);
        }
        let kit = self.kit.get();
        let source_type = kit.source_type.bind(py);
        match (batch, &self.start_batch) {
            (Some(b), Some(s)) => {
                if let Some(same) = same_line_batch(py, b, s)? {
                    return Ok(same);
                }
                let (b, s) = (b.obj(py, kit)?, s.obj(py, kit)?);
                let (b, s) = (b.bind(py), s.bind(py));
                if b.get_type().is(source_type) && s.get_type().is(source_type) {
                    kit.same_batch.bind(py).call1((b, s))?.is_truthy()
                } else {
                    b.eq(s)
                }
            }
            // `batch is not None and batch == start`: None equals only None, never here
            (Some(b), None) => b.obj(py, kit)?.bind(py).eq(py.None()),
            (None, _) => Ok(false),
        }
    }

    /// The contact an agent ACW that begins now belongs to (`SessionCore._acw_contact`).
    fn acw_contact(&self, since_index: i64, ended: Option<&str>) -> Option<String> {
        let mut found: Option<&str> = None;
        let mut latest = since_index - 1;
        for contact in self.contacts.values() {
            if let Some(began) = contact.acw_phase_index {
                if began > latest {
                    found = Some(contact.contact_id.as_str());
                    latest = began;
                }
            }
        }
        if let Some(found) = found {
            return Some(found.to_owned());
        }
        if self.connected() {
            return None;
        }
        let (contact_id, index) = self.last_ended_contact.as_ref()?;
        if *index >= since_index && Some(contact_id.as_str()) != ended {
            Some(contact_id.clone())
        } else {
            None
        }
    }

    fn connected(&self) -> bool {
        let kit = self.kit.get();
        self.contacts.values().any(|c| kit.kinds[c.media].connected.contains(&*c.state))
    }

    fn matches_direction(&self, state: &str, contact: &Contact) -> bool {
        let media = self.kit.get().kinds[contact.media].media.as_str();
        if contact.final_ || media == "supervisor" {
            return false;
        }
        if state == "InboundConsult" || state == "OutboundConsult" {
            return media == "call";
        }
        let inbound = contact.is_inbound.unwrap_or(media != "call" && media != "digital");
        if state == "InboundContact" {
            return inbound || media != "call";
        }
        if state == "OutboundContact" {
            return !inbound || media == "digital";
        }
        true
    }

    fn has_contact_for(&self, state: &str) -> bool {
        self.contacts.values().any(|c| self.matches_direction(state, c))
    }

    fn check_contact_state_left(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.agent.contact_seen {
            return Ok(());
        }
        self.agent.contact_seen = true;
        let index = std::mem::replace(&mut self.index, self.agent.entered_index);
        let entered = clone_src(py, &self.agent.entered_source);
        let source = std::mem::replace(&mut self.source, entered);
        let message = format!("the agent was {} with no open contact of that direction", self.agent.state);
        let result = self.violate(py, "contact-state-without-contact", message, At::default());
        self.index = index;
        self.source = source;
        result
    }

    fn check_contacts_open(&mut self, py: Python<'_>) -> PyResult<()> {
        let kit = self.kit.clone_ref(py);
        let open: Vec<(String, String)> = self
            .contacts
            .values()
            .map(|c| {
                (
                    c.contact_id.clone(),
                    format!(
                        "{} {} is still open ({}) when the session ended",
                        kit.get().kinds[c.media].media,
                        c.contact_id,
                        c.status
                    ),
                )
            })
            .collect();
        for (contact_id, message) in open {
            self.violate(py, "contacts-open-at-end", message, At { contact_id: Some(&contact_id), ..At::default() })?;
        }
        Ok(())
    }

    fn deadline(&self, py: Python<'_>, start: &Option<Obj>, timeout_s: Option<i64>) -> PyResult<Option<Obj>> {
        let kit = self.kit.get();
        Ok(opt(kit.deadline.bind(py).call1((clone_opt(py, start), timeout_s))?).map(Bound::unbind))
    }

    // --- the session's lifecycle -----------------------------------------------------------

    fn end_session(&mut self, py: Python<'_>, reason: &str, message: Option<String>) -> PyResult<()> {
        let remote = reason == "RemoteAgentSessionEnd";
        let judge = !remote && !self.info.saw_end_event;
        if !remote {
            self.info.saw_end_event = true;
        }
        if message.as_deref().is_some_and(|m| !m.is_empty())
            && self.info.end_message.as_deref().is_none_or(str::is_empty)
        {
            self.info.end_message = message;
        }
        let kit = self.kit.clone_ref(py);
        let machine = kit.get().session.get();
        let Some(dest) = machine.dest(&self.info.status, reason).map(str::to_owned) else {
            if judge && self.info.end_reason.as_deref() == Some("RemoteAgentSessionEnd") {
                self.check_contacts_open(py)?;
            }
            return Ok(());
        };
        let from = self.info.status.clone();
        self.moved(py, "session", None, &from, &dest, reason, None, None, true)?;
        self.info.status = self.kit.get().name(&dest);
        self.info.end_reason = Some(reason.to_owned());
        self.info.end_index = Some(self.index);
        if judge {
            self.check_contacts_open(py)?;
        }
        Ok(())
    }

    fn on_session_start(&mut self, py: Python<'_>, event: &Bound<'_, PyAny>, batch: &Option<Src>) -> PyResult<()> {
        let info = &mut self.info;
        if let Some(v) = nonempty(text(&event.getattr(pyo3::intern!(py, "session_id"))?)?) {
            info.session_id = Some(v);
        }
        if let Some(v) = nonempty(text(&event.getattr(pyo3::intern!(py, "agent_id"))?)?) {
            info.agent_id = Some(v);
        }
        if let Some(v) = nonempty(text(&event.getattr(pyo3::intern!(py, "bus_no"))?)?) {
            info.bus_no = Some(v);
        }
        let kit = self.kit.clone_ref(py);
        if let Some(dest) = kit.get().session.get().dest(&self.info.status, "AgentSessionStart") {
            let from = self.info.status.clone();
            self.moved(py, "session", None, &from, dest, "AgentSessionStart", None, None, false)?;
            self.info.status = kit.get().name(dest);
        }
        self.info.saw_start = true;
        self.start_batch = clone_src(py, batch);
        Ok(())
    }

    fn on_session_end(&mut self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let success: Option<bool> = opt(event.getattr(pyo3::intern!(py, "success"))?).map(|v| v.is_truthy()).transpose()?;
        let message = text(&event.getattr(pyo3::intern!(py, "message"))?)?;
        if success.is_some() && self.info.end_success.is_none() {
            self.info.end_success = success;
        }
        if success == Some(false) {
            let said = match message.as_deref() {
                Some(m) if !m.is_empty() => format!(": {m}"),
                _ => String::new(),
            };
            self.violate(
                py,
                "session-end-not-clean",
                format!("AgentSessionEnd says the session did not end cleanly{said}"),
                At::default(),
            )?;
        }
        self.end_session(py, "AgentSessionEnd", message)
    }

    fn on_remote_end(&mut self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        if &*self.info.status != "ended" {
            self.info.remote_end_index = Some(self.index);
            self.info.remote_end_source = clone_src(py, &self.source);
        }
        let message = text(&event.getattr(pyo3::intern!(py, "message"))?)?;
        self.end_session(py, "RemoteAgentSessionEnd", message)
    }

    // --- the agent state ---------------------------------------------------------------------

    fn on_agent_state(&mut self, py: Python<'_>, facts: &Facts<'_>, digest: Option<u64>) -> PyResult<()> {
        let current_state = facts.text(0)?;
        let out_reason_raw = facts.text(1)?;
        let next_states = facts.get(2).clone();
        let start = fact_time(facts, 3);
        let is_acw = facts.truthy(4)?;
        let acw_timeout: Option<i64> = facts.get(5).extract()?;
        if digest.is_some() && digest == self.agent.last_digest {
            let at = At { change: false, ..At::default() };
            return self.violate(py, "duplicate-event", "the same AgentState event twice in a row".into(), at);
        }
        if earlier(&start, &self.agent.since) && self.repeats_recent(digest) {
            let at = At { change: false, ..At::default() };
            let message = "an AgentState applied before, delivered again (older than the current state)";
            return self.violate(py, "duplicate-event", message.into(), at);
        }
        let kit = self.kit.clone_ref(py);
        let machine = kit.get().agent_state.get();
        let trigger = machine.trigger(current_state.as_deref()).map(str::to_owned);
        let count = next_states.len()?;
        let here = self.agent.state.clone();
        if count > 2 {
            let message = format!("NextStates has {count} entries; the protocol has at most two (next, next-next)");
            let at = At { machine: "agent_state", state: Some(&here), trigger: trigger.as_deref(), ..At::default() };
            self.violate(py, "too-many-next-states", message, at)?;
        }
        let mut dest = here.clone();
        match trigger.as_deref() {
            None => {
                let message = format!("unknown agent state {}", repr(py, current_state.as_deref())?);
                let at = At { machine: "agent_state", state: Some(&here), ..At::default() };
                self.violate(py, "unknown-status", message, at)?;
            }
            Some(t) if t != &*here => {
                let found = machine.dest(&here, t);
                if found.is_none() {
                    let message = format!("agent state {here} -> {t} is not in the agent-state table");
                    let at = At { machine: "agent_state", state: Some(&here), trigger: Some(t), ..At::default() };
                    self.violate(py, "agent-state-transition", message, at)?;
                }
                dest = self.kit.get().name(found.unwrap_or(t));
            }
            Some(_) => {}
        }
        if is_acw && &*dest != UNAVAILABLE {
            let message = format!(
                "IsAcw True with CurrentState {}; ACW is an Unavailable state",
                repr(py, current_state.as_deref())?
            );
            self.violate(py, "acw-outside-unavailable", message, At::default())?;
        }
        self.agent.last_digest = digest;
        let out_reason = out_reason_raw.unwrap_or_default();
        let state_changed = dest != self.agent.state;
        let restarted = !state_changed
            && trigger.is_some()
            && start.is_some()
            && earlier(&self.agent.since, &start);
        let mut ended: Option<String> = None;
        if state_changed || restarted {
            self.check_contact_state_left(py)?;
            if state_changed {
                let from = self.agent.state.clone();
                let trig = trigger.clone().unwrap_or_else(|| dest.to_string());
                self.moved(py, "agent_state", None, &from, &dest, &trig, current_state.as_deref(), time_obj(py, &start).as_ref(), false)?;
                self.agent.state = dest.clone();
            } else if let Some(acw) = self.agent.acw.take() {
                ended = acw.contact_id;
            }
            self.agent.entered_index = self.index;
            self.agent.entered_source = clone_src(py, &self.source);
            self.agent.contact_seen = !CONTACT_STATES.contains(&&*dest) || self.has_contact_for(&dest);
        }
        if !state_changed && next_states.ne(self.agent.next_states.bind(py))? {
            let change = if count > 0 { NEXT_SET } else { NEXT_CLEARED };
            if machine.dest(&self.agent.state, change).is_some() {
                let state = self.agent.state.clone();
                self.moved(py, "agent_state", None, &state, &state, change, current_state.as_deref(), time_obj(py, &start).as_ref(), false)?;
            }
        }
        if let Some(label) = nonempty(current_state) {
            self.agent.label = self.kit.get().name(&label);
        }
        let new_interval = state_changed
            || restarted
            || out_reason.as_str() != &*self.agent.out_reason
            || is_acw != self.agent.is_acw
            || self.agent.interval_index.is_none();
        let since_time = if new_interval || self.agent.since.is_none() {
            start
        } else {
            copy_time(py, &self.agent.since)
        };
        let since = time_obj(py, &since_time);
        let mut acw_contact = None;
        if new_interval {
            acw_contact = self.new_interval(py, &dest, &out_reason, is_acw, &since, acw_timeout, ended.as_deref())?;
        }
        self.agent.out_reason = self.kit.get().name(&out_reason);
        self.agent.since = since_time;
        self.agent.next_states = next_states.unbind();
        self.agent.acw_timeout_s = acw_timeout;
        if is_acw && &*dest == UNAVAILABLE {
            if self.agent.acw.is_none() {
                let deadline = self.deadline(py, &since, acw_timeout)?;
                self.agent.acw = Some(Box::new(Acw {
                    contact_id: acw_contact,
                    started: since,
                    timeout_s: acw_timeout,
                    deadline,
                    event_index: self.index,
                }));
            } else {
                let started = self.agent.acw.as_ref().and_then(|a| clone_opt(py, &a.started));
                let deadline = self.deadline(py, &started, acw_timeout)?;
                if let Some(acw) = self.agent.acw.as_mut() {
                    acw.timeout_s = acw_timeout;
                    acw.deadline = deadline;
                }
            }
        } else {
            self.agent.acw = None;
        }
        self.agent.is_acw = is_acw;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_interval(
        &mut self,
        py: Python<'_>,
        state: &str,
        out_reason: &str,
        is_acw: bool,
        since: &Option<Obj>,
        acw_timeout: Option<i64>,
        ended: Option<&str>,
    ) -> PyResult<Option<String>> {
        let mut acw_contact = if is_acw { self.agent.acw.as_ref().and_then(|a| a.contact_id.clone()) } else { None };
        if is_acw && acw_contact.is_none() {
            acw_contact = self.acw_contact(self.agent.interval_index.unwrap_or(0), ended);
        }
        self.agent.interval_index = Some(self.index);
        let deadline = if is_acw { self.deadline(py, since, acw_timeout)? } else { None };
        if self.emit {
            let kit = self.kit.clone_ref(py);
            let mut fields = self.head(py)?;
            fields.push(state.into_bound_py_any(py)?);
            fields.push(out_reason.into_bound_py_any(py)?);
            fields.push(is_acw.into_bound_py_any(py)?);
            fields.push(clone_opt(py, since).into_bound_py_any(py)?);
            fields.push(acw_timeout.into_bound_py_any(py)?);
            fields.push(clone_opt(py, &deadline).into_bound_py_any(py)?);
            let change = self.change(py, &kit.get().agent_status, fields)?;
            self.out.push(change);
        }
        if let Some(contact_id) = &acw_contact {
            self.acw_linked(py, contact_id, since, &deadline)?;
        }
        Ok(acw_contact)
    }

    fn acw_linked(&mut self, py: Python<'_>, contact_id: &str, started: &Option<Obj>, deadline: &Option<Obj>) -> PyResult<()> {
        if !self.emit {
            return Ok(());
        }
        let kit = self.kit.clone_ref(py);
        let mut fields = self.head(py)?;
        fields.push(contact_id.into_bound_py_any(py)?);
        fields.push(clone_opt(py, started).into_bound_py_any(py)?);
        fields.push(clone_opt(py, deadline).into_bound_py_any(py)?);
        let change = self.change(py, &kit.get().acw_linked, fields)?;
        self.out.push(change);
        Ok(())
    }

    // --- the agent leg -------------------------------------------------------------------

    fn on_agent_leg(&mut self, py: Python<'_>, facts: &Facts<'_>, digest: Option<u64>) -> PyResult<()> {
        let leg_id = facts.text(0)?;
        let status = facts.text(1)?;
        let final_state = facts.truthy(2)?;
        if let Some(leg) = &self.leg {
            if digest.is_some() && digest == leg.last_digest {
                let at = At { change: false, ..At::default() };
                return self.violate(py, "duplicate-event", "the same AgentLeg event twice in a row".into(), at);
            }
        }
        let kit = self.kit.clone_ref(py);
        let machine = kit.get().agent_leg.get();
        let mut new_leg = self.leg.is_none();
        let current = self.leg.as_ref().map(|l| (l.leg_id.clone(), l.final_, l.status.clone(), l.state.clone()));
        if let Some((old_id, old_final, old_status, old_state)) = current {
            if leg_id != old_id {
                if !old_final {
                    let message = format!(
                        "AgentLegId changed from {} to {} while leg {} was {}",
                        shown(old_id.as_deref()),
                        shown(leg_id.as_deref()),
                        shown(old_id.as_deref()),
                        old_status
                    );
                    self.violate(py, "leg-id-changed", message, At::default())?;
                }
                new_leg = true;
            } else if old_final {
                let message = format!(
                    "agent leg {} {} after its final Disconnected",
                    shown(leg_id.as_deref()),
                    shown(status.as_deref())
                );
                let state = old_state;
                let at = At { machine: "agent_leg", state: Some(&state), trigger: status.as_deref(), ..At::default() };
                self.violate(py, "leg-after-final", message, at)?;
                if let Some(leg) = self.leg.as_mut() {
                    leg.last_digest = digest;
                }
                if self.emit {
                    let mut fields = self.head(py)?;
                    fields.push("agent_leg".into_bound_py_any(py)?);
                    fields.push(leg_id.as_deref().into_bound_py_any(py)?);
                    fields.push(status.as_deref().unwrap_or("").into_bound_py_any(py)?);
                    fields.push(py.None().into_bound(py));
                    fields.push(final_state.into_bound_py_any(py)?);
                    fields.push(py.None().into_bound(py));
                    let change = self.change(py, &kit.get().status_after_final, fields)?;
                    self.out.push(change);
                }
                return Ok(());
            }
        }
        let state = match (&self.leg, new_leg) {
            (Some(leg), false) => leg.state.clone(),
            _ => self.kit.get().name("New"),
        };
        let trigger = machine.folded_trigger(status.as_deref()).map(str::to_owned);
        let mut dest = state.clone();
        match trigger.as_deref() {
            None => {
                let message = format!("unknown agent leg status {}", repr(py, status.as_deref())?);
                let at = At { machine: "agent_leg", state: Some(&state), ..At::default() };
                self.violate(py, "unknown-status", message, at)?;
            }
            Some(t) if t != &*state => {
                let found = machine.dest(&state, t);
                if found.is_none() {
                    let message = format!(
                        "agent leg {}: {state} -> {t} is not in the leg table (Dialing -> Active -> Disconnected)",
                        shown(leg_id.as_deref())
                    );
                    let at = At { machine: "agent_leg", state: Some(&state), trigger: Some(t), ..At::default() };
                    self.violate(py, "leg-transition", message, at)?;
                }
                dest = self.kit.get().name(found.unwrap_or(t));
            }
            Some(_) => {}
        }
        if final_state && machine.dest(&dest, CLOSE).is_none() {
            let message = format!(
                "agent leg {}: FinalState True on {}; only Disconnected ends the leg",
                shown(leg_id.as_deref()),
                shown(status.as_deref())
            );
            let at = At { machine: "agent_leg", state: Some(&dest), trigger: Some(CLOSE), ..At::default() };
            self.violate(py, "leg-transition", message, at)?;
        }
        if new_leg {
            if let Some(old) = self.leg.take() {
                self.rare_mut().past_legs.push(old);
            }
            let (new, empty) = (self.kit.get().name("New"), self.kit.get().name(""));
            self.leg = Some(Leg {
                leg_id: leg_id.clone(),
                state: new,
                status: empty,
                final_: false,
                errors: None,
                last_digest: None,
            });
        }
        let said = nonempty(status.clone()).map(|s| self.kit.get().name(&s));
        let (from, leg_status) = {
            let leg = self.leg.as_mut().ok_or_else(|| PyValueError::new_err("no leg"))?;
            leg.last_digest = digest;
            if let Some(s) = said {
                leg.status = s;
            }
            (leg.state.clone(), leg.status.clone())
        };
        if dest != from {
            let trig = trigger.clone().unwrap_or_else(|| dest.to_string());
            self.moved(py, "agent_leg", leg_id.as_deref(), &from, &dest, &trig, Some(&leg_status), None, false)?;
        }
        if final_state {
            self.moved(py, "agent_leg", leg_id.as_deref(), &dest, "Closed", CLOSE, Some(&leg_status), None, true)?;
        }
        let closed = self.kit.get().name("Closed");
        if let Some(leg) = self.leg.as_mut() {
            leg.state = if final_state { closed } else { dest };
            leg.final_ = final_state;
        }
        Ok(())
    }

    // --- contacts --------------------------------------------------------------------------

    fn contact_mut(&mut self, contact_id: &str) -> Option<&mut Contact> {
        if self.contacts.contains_key(contact_id) {
            self.contacts.get_mut(contact_id).map(|c| &mut **c)
        } else {
            self.closed.get_mut(contact_id).map(|c| &mut **c)
        }
    }

    fn on_contact(
        &mut self,
        py: Python<'_>,
        media: usize,
        facts: &Facts<'_>,
        batch: &Option<Src>,
        digest: Option<u64>,
    ) -> PyResult<()> {
        let kit_ref = self.kit.clone_ref(py);
        let kit = kit_ref.get();
        let kind = &kit.kinds[media];
        let machine = kind.machine.get();
        let name = kind.machine.get().name_str();
        let media_name = kind.media.as_str();
        let type_name = kind.type_name.as_str();
        let Some(contact_id) = nonempty(facts.text(0)?) else {
            return self.violate(py, "bad-field", format!("{type_name} without a ContactID"), At::default());
        };
        let cid = contact_id.as_str();
        let status = facts.text(1)?;
        let final_state = facts.truthy(2)?;
        let changed = fact_time(facts, 3);
        let start_time = facts.obj(4);
        let call_type = facts.text(8)?;
        let is_open = self.contacts.contains_key(cid);
        let known = self
            .contacts
            .get(cid)
            .or_else(|| self.closed.get(cid))
            .map(|k| (k.last_digest, copy_time(py, &k.last_change), k.final_index, k.state.clone()));
        if let Some((known_digest, known_change, known_final_index, known_state)) = known {
            if digest.is_some() && digest == known_digest {
                let message = format!("the same {type_name} for {cid} twice in a row");
                let at = At { contact_id: Some(cid), change: false, ..At::default() };
                return self.violate(py, "duplicate-event", message, at);
            }
            if earlier(&changed, &known_change) && self.repeats_recent(digest) {
                let message = format!(
                    "a {type_name} for {cid} applied before, delivered again (older than its current status)"
                );
                let at = At { contact_id: Some(cid), change: false, ..At::default() };
                return self.violate(py, "duplicate-event", message, at);
            }
            if !is_open {
                let message = format!(
                    "{media_name} {cid} {} after its FinalState True at event {}",
                    shown(status.as_deref()),
                    shown_int(known_final_index)
                );
                let state = known_state;
                let at = At {
                    contact_id: Some(cid),
                    machine: name,
                    state: Some(&state),
                    trigger: status.as_deref(),
                    ..At::default()
                };
                self.violate(py, "contact-after-final", message, at)?;
                if let Some(known) = self.closed.get_mut(cid) {
                    known.last_digest = digest;
                }
                if self.emit {
                    let mut fields = self.head(py)?;
                    fields.push(name.into_bound_py_any(py)?);
                    fields.push(cid.into_bound_py_any(py)?);
                    fields.push(status.as_deref().unwrap_or("").into_bound_py_any(py)?);
                    fields.push(time_obj(py, &changed).into_bound_py_any(py)?);
                    fields.push(final_state.into_bound_py_any(py)?);
                    fields.push(facts.get(10).clone());
                    let change = self.change(py, &kit.status_after_final, fields)?;
                    self.out.push(change);
                }
                return Ok(());
            }
        }
        let state = match self.contacts.get(cid) {
            Some(contact) => contact.state.clone(),
            None => self.kit.get().name(&kind.initial),
        };
        let trigger = machine.trigger(status.as_deref()).map(str::to_owned);
        let mut dest = state.clone();
        match trigger.as_deref() {
            None => {
                let message = format!("unknown {media_name} status {}", repr(py, status.as_deref())?);
                let at = At { contact_id: Some(cid), machine: name, state: Some(&state), ..At::default() };
                self.violate(py, "unknown-status", message, at)?;
            }
            Some(t) if t != &*state => {
                let found = machine.dest(&state, t);
                if found.is_none() {
                    let message = format!("{media_name} {cid}: {state} -> {t} is not in the {media_name} table");
                    let at = At {
                        contact_id: Some(cid),
                        machine: name,
                        state: Some(&state),
                        trigger: Some(t),
                        ..At::default()
                    };
                    self.violate(py, "contact-transition", message, at)?;
                } else if !is_open && !is_entry(kind, t, call_type.as_deref()) && !self.in_join_batch(py, batch)? {
                    let message = format!(
                        "{media_name} {cid} first seen as {} outside a join batch",
                        shown(status.as_deref())
                    );
                    let at = At { contact_id: Some(cid), ..At::default() };
                    self.violate(py, "contact-joined-mid-lifecycle", message, at)?;
                }
                dest = self.kit.get().name(found.unwrap_or(t));
            }
            Some(_) => {}
        }
        if final_state && !kind.closable.contains(&*dest) {
            let message = format!(
                "{media_name} {cid}: FinalState True on {}, which cannot end a {media_name}",
                shown(status.as_deref())
            );
            let at = At { contact_id: Some(cid), machine: name, state: Some(&dest), trigger: Some(CLOSE), ..At::default() };
            self.violate(py, "final-on-open-status", message, at)?;
        }
        let last = self.contacts.get(cid).map(|c| copy_time(py, &c.last_change));
        if let Some(last) = last {
            if earlier(&changed, &last) {
                let message = format!(
                    "{media_name} {cid}: LastStateChangeTime {} is before {}",
                    iso(py, &time_obj(py, &changed))?,
                    iso(py, &time_obj(py, &last))?
                );
                self.violate(py, "time-went-backwards", message, At { contact_id: Some(cid), ..At::default() })?;
            }
        }
        if media_name == "call" {
            self.check_link(py, facts, cid, final_state)?;
        }

        // -- checks done: apply --
        let new = !is_open;
        if new {
            let (state, status) = (self.kit.get().name(&kind.initial), self.kit.get().name(""));
            let record = Contact::new(contact_id.clone(), media, state, status, self.index);
            self.contacts.insert(contact_id.clone(), Box::new(record));
        }
        if (self.update_contact(py, kind, cid, facts, digest)? || new) && self.emit {
            let contact = &self.contacts[cid];
            let mut fields = self.head(py)?;
            fields.push(cid.into_bound_py_any(py)?);
            fields.push(media_name.into_bound_py_any(py)?);
            fields.push(contact.skill.as_deref().into_bound_py_any(py)?);
            fields.push(contact.is_inbound.into_bound_py_any(py)?);
            fields.push(contact.call_type.as_deref().into_bound_py_any(py)?);
            fields.push(contact.disconnect_code.as_deref().into_bound_py_any(py)?);
            fields.push(clone_opt(py, &contact.payload).into_bound_py_any(py)?);
            let change = self.change(py, &kit.contact_details, fields)?;
            self.out.push(change);
        }
        let at = if changed.is_some() { time_obj(py, &changed) } else { start_time };
        let (from, status_now) = {
            let contact = &self.contacts[cid];
            (contact.state.clone(), contact.status.clone())
        };
        if dest != from {
            let trig = trigger.clone().unwrap_or_else(|| dest.to_string());
            self.moved(py, name, Some(cid), &from, &dest, &trig, Some(&status_now), at.as_ref(), false)?;
            let index = self.index;
            let contact = &mut self.contacts[cid];
            if kind.closable.contains(&*dest) {
                if !final_state {
                    contact.acw_phase_index = Some(index);
                }
            } else if contact.acw_phase_index.is_some() {
                contact.acw_phase_index = None;
            }
        }
        self.contacts[cid].state = dest.clone();
        if final_state {
            if self.contacts[cid].acw_phase_index.is_none() {
                self.last_ended_contact = Some((contact_id.clone(), self.index));
            }
            self.moved(py, name, Some(cid), &dest, &kind.closed_state, CLOSE, Some(&status_now), at.as_ref(), true)?;
            self.close(py, kind, cid)?;
        }
        let messages = facts.get(12).clone();
        if !messages.is_none() && messages.is_truthy()? {
            let mut lines = Vec::new();
            for message in messages.try_iter()? {
                let message = message?;
                lines.push(kit.transcript_line.bind(py).call1((
                    message.getattr(pyo3::intern!(py, "party_type"))?,
                    message.getattr(pyo3::intern!(py, "text"))?,
                    message.getattr(pyo3::intern!(py, "time_stamp"))?,
                ))?);
            }
            self.add_transcript(py, cid, lines)?;
        }
        if media_name == "supervisor" {
            self.rare_mut().monitor_contact_id = if final_state { None } else { Some(contact_id.clone()) };
        }
        let (seen, acw_phase) = {
            let record = self
                .contacts
                .get(cid)
                .or_else(|| self.closed.get(cid))
                .ok_or_else(|| PyValueError::new_err("the contact vanished"))?;
            (!final_state && self.matches_direction(&self.agent.state, record), record.acw_phase_index.is_some())
        };
        if !self.agent.contact_seen && seen {
            self.agent.contact_seen = true;
        }
        let link = match &self.agent.acw {
            Some(acw) if acw.contact_id.is_none() => acw_phase || (final_state && !self.connected()),
            _ => false,
        };
        if link {
            let (started, deadline) = {
                let acw = self.agent.acw.as_mut().ok_or_else(|| PyValueError::new_err("no acw"))?;
                acw.contact_id = Some(contact_id.clone());
                (clone_opt(py, &acw.started), clone_opt(py, &acw.deadline))
            };
            self.acw_linked(py, cid, &started, &deadline)?;
        }
        Ok(())
    }

    /// Apply the event's data to the record; whether what the contact is changed.
    fn update_contact(
        &mut self,
        py: Python<'_>,
        kind: &ContactKind,
        cid: &str,
        facts: &Facts<'_>,
        digest: Option<u64>,
    ) -> PyResult<bool> {
        let status = nonempty(facts.text(1)?);
        let skill = nonempty(facts.text(5)?).or(nonempty(facts.text(6)?));
        let start_time = facts.obj(4);
        let last_change = fact_time(facts, 3);
        let is_inbound = facts.flag(7)?;
        let call_type = nonempty(facts.text(8)?);
        let is_linked = facts.flag(9)?;
        let disconnect_code = nonempty(facts.text(10)?);
        // the desktop facts, in DESKTOP_FACTS order
        let desktop = PyTuple::new(py, [17, 18, 19, 20, 24, 21, 22, 23].iter().map(|&i| facts.get(i)))?;
        let media = kind.media.as_str();
        let mut room: Option<String> = None;
        let mut payload: Option<Bound<'_, PyAny>> = None;
        if media == "chat" {
            room = nonempty(facts.text(11)?);
        } else if media == "work_item" {
            let dict = PyDict::new(py);
            dict.set_item("work_item_id", facts.get(13))?;
            dict.set_item("work_item_type", facts.get(14))?;
            dict.set_item("payload", facts.get(15))?;
            payload = Some(dict.into_any());
        } else if media == "voicemail" {
            let file_name = facts.get(16).clone();
            if file_name.is_truthy()? {
                let current = self.contacts[cid].payload.as_ref().map(|p| p.clone_ref(py));
                let differs = match current {
                    None => true,
                    Some(p) => p.bind(py).call_method1("get", ("file_name",))?.ne(&file_name)?,
                };
                if differs {
                    let dict = PyDict::new(py);
                    dict.set_item("file_name", file_name)?;
                    payload = Some(dict.into_any());
                }
            }
        }
        let status = status.map(|status| self.kit.get().name(&status));
        let contact = &mut self.contacts[cid];
        contact.last_digest = digest;
        if let Some(status) = status {
            contact.status = status;
        }
        let mut changed = false;
        if let Some(skill) = skill {
            if contact.skill.as_deref() != Some(skill.as_str()) {
                contact.skill = Some(skill);
                changed = true;
            }
        }
        if start_time.is_some() {
            contact.started = start_time;
        }
        if last_change.is_some() {
            contact.last_change = last_change;
        }
        contact.desktop = Some(desktop.into_any().unbind());
        if is_inbound.is_some() && is_inbound != contact.is_inbound {
            contact.is_inbound = is_inbound;
            changed = true;
        }
        if let Some(call_type) = call_type {
            if contact.call_type.as_deref() != Some(call_type.as_str()) {
                contact.call_type = Some(call_type);
                changed = true;
            }
        }
        if media == "call" {
            if let Some(linked) = is_linked {
                contact.is_linked = linked;
            }
        }
        if let Some(code) = disconnect_code {
            if contact.disconnect_code.as_deref() != Some(code.as_str()) {
                contact.disconnect_code = Some(code);
                changed = true;
            }
        }
        if let Some(room) = room {
            contact.room_id = Some(room.clone());
            self.rare_mut().rooms.insert(room, cid.to_owned());
        } else if let Some(payload) = payload {
            let differs = match &contact.payload {
                None => true,
                Some(current) => payload.ne(current.bind(py))?,
            };
            if differs || media == "voicemail" {
                contact.payload = Some(payload.unbind());
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Append the lines the transcript does not have yet; whether any was new.
    fn add_transcript(&mut self, py: Python<'_>, cid: &str, lines: Vec<Bound<'_, PyAny>>) -> PyResult<bool> {
        let kit = self.kit.clone_ref(py);
        let (transcript, seen) = {
            let contact = self.contact_mut(cid).ok_or_else(|| PyValueError::new_err("no contact"))?;
            let transcript = contact.transcript.get_or_insert_with(|| PyList::empty(py).unbind()).clone_ref(py);
            let seen = match &contact.transcript_seen {
                Some(seen) => seen.clone_ref(py),
                None => {
                    let seen = PySet::new(py, transcript.bind(py).iter())?.unbind();
                    contact.transcript_seen = Some(seen.clone_ref(py));
                    seen
                }
            };
            (transcript, seen)
        };
        let (transcript, seen) = (transcript.bind(py), seen.bind(py));
        let mut added = false;
        for line in lines {
            if !seen.contains(&line)? {
                seen.add(&line)?;
                transcript.append(&line)?;
                if self.emit {
                    let mut fields = self.head(py)?;
                    fields.push(cid.into_bound_py_any(py)?);
                    fields.push(line.getattr(pyo3::intern!(py, "party"))?);
                    fields.push(line.getattr(pyo3::intern!(py, "text"))?);
                    fields.push(line.getattr(pyo3::intern!(py, "at"))?);
                    let change = self.change(py, &kit.get().transcript_added, fields)?;
                    self.out.push(change);
                }
                added = true;
            }
        }
        Ok(added)
    }

    /// Forget the closed contacts closed earliest, past the kit's `closed_kept`
    /// (`SessionCore._keep_closed`).
    fn keep_closed(&mut self) {
        let kept = self.kit.get().closed_kept;
        while self.closed.len() > kept {
            self.closed.shift_remove_index(0);
        }
    }

    fn close(&mut self, py: Python<'_>, kind: &ContactKind, cid: &str) -> PyResult<()> {
        let index = self.index;
        if let Some(mut contact) = self.contacts.shift_remove(cid) {
            contact.final_ = true;
            contact.final_index = Some(index);
            contact.state = self.kit.get().name(&kind.closed_state);
            contact.desktop = None;
            self.closed.insert(cid.to_owned(), contact);
            self.keep_closed();
        }
        if self.linked_contact_id.as_deref() == Some(cid) {
            self.link(py, None)?;
        }
        Ok(())
    }

    fn link(&mut self, py: Python<'_>, contact_id: Option<&str>) -> PyResult<()> {
        if self.emit {
            let kit = self.kit.clone_ref(py);
            let mut fields = self.head(py)?;
            fields.push(self.linked_contact_id.as_deref().into_bound_py_any(py)?);
            fields.push(contact_id.into_bound_py_any(py)?);
            let change = self.change(py, &kit.get().link_moved, fields)?;
            self.out.push(change);
        }
        self.linked_contact_id = contact_id.map(str::to_owned);
        Ok(())
    }

    /// The agent's voice path links one dialer call at a time (`IsLinked`).
    fn check_link(&mut self, py: Python<'_>, facts: &Facts<'_>, cid: &str, final_state: bool) -> PyResult<()> {
        let is_linked = facts.flag(9)?;
        let linked = self.linked_contact_id.clone();
        if is_linked == Some(true) {
            if final_state {
                return Ok(());
            }
            if let Some(other_id) = linked.as_deref().filter(|l| *l != cid) {
                let other_in_acw = self.contacts.get(other_id).map(|c| c.in_acw());
                if let Some(in_acw) = other_in_acw {
                    if !in_acw {
                        let message = format!("call {cid} IsLinked True while call {other_id} is still linked");
                        self.violate(py, "two-linked-calls", message, At { contact_id: Some(cid), ..At::default() })?;
                    }
                    if let Some(other) = self.contacts.get_mut(other_id) {
                        other.is_linked = false;
                    }
                }
            }
            if linked.as_deref() != Some(cid) {
                self.link(py, Some(cid))?;
            }
        } else if linked.as_deref() == Some(cid) && is_linked == Some(false) {
            self.link(py, None)?;
        }
        Ok(())
    }

    fn on_chat_text(&mut self, py: Python<'_>, facts: &Facts<'_>) -> PyResult<()> {
        let kit = self.kit.clone_ref(py);
        let room_id = facts.text(0)?;
        let room = room_id.clone().unwrap_or_default();
        let line = kit.get().transcript_line.bind(py).call1((facts.get(1), facts.get(2), facts.get(3)))?;
        let found = self
            .rare
            .as_ref()
            .and_then(|rare| rare.rooms.get(&room))
            .filter(|cid| self.contacts.contains_key(*cid) || self.closed.contains_key(*cid))
            .cloned();
        let cid = match found {
            Some(cid) => cid,
            None => {
                // ChatText before its ChatContactEvent: kept under the room until one claims it
                let cid = format!("room:{room}");
                self.rare_mut().rooms.entry(room.clone()).or_insert_with(|| cid.clone());
                if !self.closed.contains_key(&cid) {
                    let chat = kit.get().kinds.iter().position(|k| k.media == "chat").unwrap_or(0);
                    let (state, status) = (kit.get().name("Closed"), kit.get().name(""));
                    let mut record = Contact::new(cid.clone(), chat, state, status, self.index);
                    record.final_ = true;
                    self.closed.insert(cid.clone(), Box::new(record));
                    self.keep_closed();
                }
                cid
            }
        };
        if !self.add_transcript(py, &cid, vec![line])? {
            let message = format!("the same ChatText for room {} twice", shown(room_id.as_deref()));
            let at = At { contact_id: Some(&cid), change: false, ..At::default() };
            self.violate(py, "duplicate-event", message, at)?;
        }
        Ok(())
    }

    // --- everything else ---------------------------------------------------------------------

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn own_map<'a>(map: &'a mut Option<IndexMap<String, Obj, FxBuildHasher>>) -> &'a mut IndexMap<String, Obj, FxBuildHasher> {
        map.get_or_insert_with(IndexMap::default)
    }

    fn handle(&mut self, py: Python<'_>, route: usize, input: &Input<'_, '_>, batch: &Option<Src>, digest: Option<u64>) -> PyResult<()> {
        let kit = self.kit.clone_ref(py);
        let route = &kit.get().routes[route];
        let name = route.type_name.as_str();
        let facts = match input {
            Input::Facts(facts) => {
                return match route.handler {
                    Handler::AgentState => self.on_agent_state(py, facts, digest),
                    Handler::AgentLeg => self.on_agent_leg(py, facts, digest),
                    Handler::Contact(media) => self.on_contact(py, media, facts, batch, digest),
                    Handler::ChatText => self.on_chat_text(py, facts),
                    Handler::Mute => {
                        self.rare_mut().muted = facts.flag(0)?;
                        self.note(py, name, py.None().into_bound(py), facts.get(0).clone())
                    }
                    Handler::Signal => {
                        *self.rare_mut().signals.get_or_insert_with(IndexMap::default).entry(name.to_owned()).or_insert(0) += 1;
                        self.note(py, name, py.None().into_bound(py), py.None().into_bound(py))
                    }
                    _ => Err(PyValueError::new_err(format!("{name} takes its typed event, not facts"))),
                };
            }
            Input::Event(event) => *event,
        };
        match route.handler {
            Handler::SessionStart => self.on_session_start(py, facts, batch),
            Handler::SessionEnd => self.on_session_end(py, facts),
            Handler::RemoteEnd => self.on_remote_end(py, facts),
            Handler::HttpEnd => self.end_session(py, "409", None),
            Handler::AgentState | Handler::AgentLeg | Handler::Contact(_) | Handler::ChatText | Handler::Mute | Handler::Signal => {
                Err(PyValueError::new_err(format!("{name} takes facts, not its typed event")))
            }
            Handler::AgentError => {
                let contact_id = text(&facts.getattr(pyo3::intern!(py, "contact_id"))?)?;
                let target = text(&facts.getattr(pyo3::intern!(py, "target"))?)?.unwrap_or_default().to_lowercase();
                let event = facts.clone().unbind();
                let key = contact_id.clone().unwrap_or_default();
                if let Some(contact) = self.contacts.get_mut(&key) {
                    contact.errors.get_or_insert_with(Vec::new).push(event);
                } else if target == "agentleg" && self.leg.is_some() {
                    if let Some(leg) = self.leg.as_mut() {
                        leg.errors.get_or_insert_with(Vec::new).push(event);
                    }
                } else {
                    self.rare_mut().session_errors.push(event);
                }
                self.note(py, name, facts.getattr(pyo3::intern!(py, "contact_id"))?, facts.clone())
            }
            Handler::SupervisorMonitor => {
                let monitor_type = text(&facts.getattr(pyo3::intern!(py, "monitor_type"))?)?.unwrap_or_default();
                let stop = facts.getattr(pyo3::intern!(py, "final_state"))?.is_truthy()? || monitor_type.to_lowercase() == "stopmonitor";
                self.rare_mut().monitoring = if stop { None } else { Some(facts.clone().unbind()) };
                self.note(py, name, facts.getattr(pyo3::intern!(py, "target_agent_id"))?, facts.clone())
            }
            Handler::TakeOver => {
                self.rare_mut().take_over = Some(facts.clone().unbind());
                self.note(py, name, py.None().into_bound(py), facts.clone())
            }
            Handler::Indicator | Handler::PageOpen | Handler::PopUrl | Handler::Custom => {
                let (field, map) = match route.handler {
                    Handler::Indicator => ("name", &mut self.rare_mut().indicators),
                    Handler::PageOpen => ("contact_id", &mut self.rare_mut().page_opens),
                    Handler::PopUrl => ("contact_id", &mut self.rare_mut().pop_urls),
                    _ => ("event_name", &mut self.rare_mut().custom_events),
                };
                let subject = facts.getattr(field)?;
                let key = text(&subject)?.unwrap_or_default();
                Self::own_map(map).insert(key, facts.clone().unbind());
                self.note(py, name, subject, facts.clone())
            }
            Handler::SkillList => {
                self.rare_mut().skill_list = Some(facts.clone().unbind());
                self.note(py, name, py.None().into_bound(py), facts.clone())
            }
            Handler::Hours => {
                self.rare_mut().hours_of_operation = Some(facts.clone().unbind());
                self.note(py, name, py.None().into_bound(py), facts.clone())
            }
            Handler::Noted => {
                let subject = match facts.getattr(pyo3::intern!(py, "contact_id")) {
                    Ok(value) => value,
                    Err(error) if error.is_instance_of::<PyAttributeError>(py) => py.None().into_bound(py),
                    Err(error) => return Err(error),
                };
                self.note(py, name, subject, facts.clone())
            }
            Handler::Unknown => {
                let type_name: String = facts.getattr(pyo3::intern!(py, "type"))?.extract()?;
                *self.rare_mut().unknown_types.get_or_insert_with(IndexMap::default).entry(type_name.clone()).or_insert(0) += 1;
                self.note(py, &type_name, py.None().into_bound(py), facts.clone())?;
                let message = format!("unknown event Type {} (kept, not interpreted)", repr(py, Some(&type_name))?);
                self.violate(py, "unknown-event-type", message, At::default())
            }
        }
    }

    /// Whether `batch` begins another batch than the one before it (`AgentSession.feed`).
    fn new_batch(&self, py: Python<'_>, batch: &Src) -> PyResult<bool> {
        let Some(previous) = &self.batch else {
            return Ok(true);
        };
        if let Some(same) = same_line_batch(py, batch, previous)? {
            return Ok(!same);
        }
        let kit = self.kit.get();
        let (batch, previous) = (batch.obj(py, kit)?, previous.obj(py, kit)?);
        let (batch, previous) = (batch.bind(py), previous.bind(py));
        if batch.is(previous) {
            return Ok(false);
        }
        let source_type = kit.source_type.bind(py);
        if batch.get_type().is(source_type) && previous.get_type().is(source_type) {
            let (one, other) = (batch.getattr(pyo3::intern!(py, "batch"))?, previous.getattr(pyo3::intern!(py, "batch"))?);
            if one.is_none() && other.is_none() {
                return Ok(batch.getattr(pyo3::intern!(py, "line"))?.ne(previous.getattr(pyo3::intern!(py, "line"))?)?
                    || batch.getattr(pyo3::intern!(py, "path"))?.ne(previous.getattr(pyo3::intern!(py, "path"))?)?);
            }
            return Ok(!kit.same_batch.bind(py).call1((batch, previous))?.is_truthy()?);
        }
        batch.ne(previous)
    }
}

impl Core {
    /// `AgentSession.feed` from taking the index on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_input(
        &mut self,
        py: Python<'_>,
        route: usize,
        input: &Input<'_, '_>,
        digest: Option<u64>,
        source: Option<Src>,
        batch: Option<Src>,
        bad: Vec<String>,
    ) -> PyResult<Py<PyTuple>> {
        let kit = self.kit.clone_ref(py);
        let Some(found) = kit.get().routes.get(route) else {
            return Err(PyValueError::new_err(format!("no route {route}")));
        };
        self.out.clear();
        let position = self.position;
        self.index = position;
        self.source = source;
        if position == 0 {
            self.info.first_source = clone_src(py, &self.source);
        }
        self.position = position + 1;
        for detail in bad {
            let at = At { strict: false, ..At::default() };
            self.violate(py, "bad-field", detail + BAD_FIELD_APPLIED, at)?;
        }
        let name = || -> PyResult<String> {
            match input {
                Input::Event(event) if found.handler == Handler::Unknown => event.getattr(pyo3::intern!(py, "type"))?.extract(),
                _ => Ok(found.type_name.clone()),
            }
        };
        match &batch {
            None => self.batch = None,
            Some(batch) => {
                let repeating = if self.new_batch(py, batch)? {
                    self.batch = Some(batch.clone_ref(py));
                    self.previous_batch = std::mem::take(&mut self.batch_digests);
                    self.batch_digests.push(digest);
                    self.repeating = digest.is_some()
                        && !self.previous_batch.is_empty()
                        && self.previous_batch[0] == digest;
                    self.repeating
                } else {
                    self.batch_digests.push(digest);
                    let mut repeating = false;
                    if self.repeating {
                        let at = self.batch_digests.len() - 1;
                        repeating = digest.is_some() && at < self.previous_batch.len() && self.previous_batch[at] == digest;
                        self.repeating = repeating;
                    }
                    repeating
                };
                if repeating && !found.lifecycle {
                    let contact_id: Option<String> = match input {
                        Input::Facts(facts) if matches!(found.handler, Handler::Contact(_)) => facts.text(0)?,
                        Input::Facts(_) => None,
                        Input::Event(event) => match event.getattr(pyo3::intern!(py, "contact_id")) {
                            Ok(value) => value.extract()?,
                            Err(error) if error.is_instance_of::<PyAttributeError>(py) => None,
                            Err(error) => return Err(error),
                        },
                    };
                    let message = format!("the same {} again: its response repeats the one before it", name()?);
                    let at = At { contact_id: contact_id.as_deref(), change: false, ..At::default() };
                    self.violate(py, "duplicate-event", message, at)?;
                    self.events += 1;
                    return self.taken(py);
                }
            }
        }
        if self.info.saw_end_event && !found.end {
            let event = name()?;
            let message = format!(
                "{event} after the session ended ({} at event {})",
                shown(self.info.end_reason.as_deref()),
                shown_int(self.info.end_index)
            );
            let status = self.info.status.clone();
            let at = At { machine: "session", state: Some(&status), trigger: Some(&event), ..At::default() };
            self.violate(py, "event-after-end", message, at)?;
        }
        self.handle(py, route, input, &batch, digest)?;
        self.events += 1;
        if found.repeats {
            if let Some(digest) = digest {
                let ring = self.recent.get_or_insert_with(|| Box::new([0; RECENT]));
                ring[self.recent_at] = digest;
                self.recent_at = (self.recent_at + 1) % RECENT;
            }
        }
        self.taken(py)
    }

}

/// What a handler takes: the facts of a frequent type, or the typed event of any other.
pub(crate) enum Input<'a, 'py> {
    Facts(&'a Facts<'py>),
    Event(&'a Bound<'py, PyAny>),
}

fn is_entry(kind: &ContactKind, trigger: &str, call_type: Option<&str>) -> bool {
    if kind.entry.contains(trigger) {
        return true;
    }
    let folded = call_type.unwrap_or("").to_lowercase();
    kind.entry_by_call_type.get(&folded).is_some_and(|statuses| statuses.contains(trigger))
}

fn iso(py: Python<'_>, value: &Option<Obj>) -> PyResult<String> {
    match value {
        Some(v) => Ok(v.bind(py).call_method0("isoformat")?.extract()?),
        None => Ok("None".to_owned()),
    }
}

#[pymethods]
impl Core {
    #[new]
    #[pyo3(signature = (kit, key, strict = false, ignore = HashSet::default()))]
    fn py_new(py: Python<'_>, kit: Py<Kit>, key: Py<PyString>, strict: bool, ignore: HashSet<String>) -> Self {
        Self::fresh(kit, key, strict, ignore, py)
    }

    /// Apply one event's facts as the shared Python path read them (`read_event`):
    /// `AgentSession.feed` from taking the index on; the changes it made. `bad` holds the
    /// detail of each field the codec left out.
    #[pyo3(signature = (route, facts, digest, source, batch, bad))]
    fn apply(
        &mut self,
        py: Python<'_>,
        route: usize,
        facts: &Bound<'_, PyAny>,
        digest: Option<u64>,
        source: Option<Obj>,
        batch: Option<Obj>,
        bad: Vec<String>,
    ) -> PyResult<Py<PyTuple>> {
        let kit = self.kit.clone_ref(py);
        let Some(found) = kit.get().routes.get(route) else {
            return Err(PyValueError::new_err(format!("no route {route}")));
        };
        let (source, batch) = (source.map(Src::Py), batch.map(Src::Py));
        if found.facts {
            let facts = Facts::of_tuple(facts, &found.timed, kit.get().micros.bind(py))?;
            self.apply_input(py, route, &Input::Facts(&facts), digest, source, batch, bad)
        } else {
            self.apply_input(py, route, &Input::Event(facts), digest, source, batch, bad)
        }
    }

    /// Apply one wire object of a frequent type, its facts read here (`wire.rs`): the
    /// changes it made, or None when the shared Python path must read it (then nothing
    /// was applied).
    #[pyo3(signature = (wire, source, batch))]
    fn feed_wire(
        &mut self,
        py: Python<'_>,
        wire: &Bound<'_, PyDict>,
        source: Option<Obj>,
        batch: Option<Obj>,
    ) -> PyResult<Option<Py<PyTuple>>> {
        let kit_ref = self.kit.clone_ref(py);
        let kit = kit_ref.get();
        let Some(type_name) = wire.get_item(pyo3::intern!(py, "Type"))? else {
            return Ok(None);
        };
        let Ok(type_name) = type_name.cast::<PyString>() else {
            return Ok(None);
        };
        let Some(spec) = kit.readers.get(type_name.to_str()?) else {
            return Ok(None);
        };
        let Some(facts) = spec.read(py, wire, kit.from_iso.bind(py), kit.missing.bind(py))? else {
            return Ok(None);
        };
        // the digest of what came (facts.wire_digest): orjson's compact JSON of the object
        let digest = JSON.with_borrow_mut(|buffer| digest(py, wire, kit.dumps.bind(py), buffer))?;
        let route = spec.route;
        let (source, batch) = (source.map(Src::Py), batch.map(Src::Py));
        Ok(Some(self.apply_input(py, route, &Input::Facts(&facts), digest, source, batch, Vec::new())?))
    }

    /// Account for an input item that could not be read: it takes an index and a
    /// violation of `rule` (`AgentSession.report_input_error`).
    fn report_input_error(&mut self, py: Python<'_>, rule: &str, detail: String, source: Option<Obj>) -> PyResult<Py<PyTuple>> {
        self.out.clear();
        self.index = self.position;
        self.source = source.map(Src::Py);
        if self.position == 0 {
            self.info.first_source = clone_src(py, &self.source);
        }
        self.position += 1;
        self.violate(py, rule, detail, At { strict: false, ..At::default() })?;
        self.taken(py)
    }

    /// End the session from outside the stream (HTTP 409).
    #[pyo3(signature = (reason, message = None))]
    fn end(&mut self, py: Python<'_>, reason: &str, message: Option<String>) -> PyResult<Py<PyTuple>> {
        self.out.clear();
        self.index = self.position;
        self.source = None;
        self.end_session(py, reason, message)?;
        self.taken(py)
    }

    /// The input is over: the checks that need the whole stream. Idempotent.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        if self.finished {
            return Ok(PyTuple::empty(py).unbind());
        }
        self.out.clear();
        self.finished = true;
        if self.position > 0 && !self.info.saw_start {
            self.index = 0;
            self.source = clone_src(py, &self.info.first_source);
            let at = At { strict: false, ..At::default() };
            self.violate(py, "no-session-start", "the stream has no AgentSessionStart event".into(), at)?;
        }
        if self.info.remote_end_index.is_some() && !self.info.saw_end_event {
            self.index = self.info.remote_end_index.unwrap_or(0);
            self.source = clone_src(py, &self.info.remote_end_source);
            let at = At { strict: false, ..At::default() };
            let message = "RemoteAgentSessionEnd was never followed by AgentSessionEnd or a 409";
            self.violate(py, "remote-end-without-end", message.into(), at)?;
            self.check_contacts_open(py)?;
        }
        self.check_contact_state_left(py)?;
        self.taken(py)
    }

    #[getter]
    fn key(&self, py: Python<'_>) -> Py<PyString> {
        self.key_obj.clone_ref(py)
    }

    #[getter]
    fn violation_count(&self) -> usize {
        self.violations.len()
    }

    /// The session's state as plain values by the reference's attribute names
    /// (`engine/native.py` builds the records); `parts` limits it to those named.
    #[pyo3(signature = (parts = None))]
    fn export<'py>(&self, py: Python<'py>, parts: Option<Vec<String>>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let want = |name: &str| parts.as_ref().is_none_or(|p| p.iter().any(|n| n == name));
        let kit = self.kit.get();
        let o = clone_opt;
        let empty = Rare::default();
        let rare = self.rare.as_deref().unwrap_or(&empty);
        if want("info") {
            let i = &self.info;
            out.set_item(
                "info",
                PyTuple::new(
                    py,
                    [
                        i.session_id.as_deref().into_bound_py_any(py)?,
                        i.agent_id.as_deref().into_bound_py_any(py)?,
                        i.bus_no.as_deref().into_bound_py_any(py)?,
                        (&*i.status).into_bound_py_any(py)?,
                        i.end_reason.as_deref().into_bound_py_any(py)?,
                        i.end_message.as_deref().into_bound_py_any(py)?,
                        i.end_success.into_bound_py_any(py)?,
                        i.end_index.into_bound_py_any(py)?,
                        i.saw_start.into_bound_py_any(py)?,
                        i.saw_end_event.into_bound_py_any(py)?,
                        i.remote_end_index.into_bound_py_any(py)?,
                        src_obj(py, kit, &i.remote_end_source)?.into_bound_py_any(py)?,
                        src_obj(py, kit, &i.first_source)?.into_bound_py_any(py)?,
                    ],
                )?,
            )?;
        }
        if want("agent") {
            let a = &self.agent;
            let acw = match &a.acw {
                None => py.None().into_bound(py),
                Some(w) => PyTuple::new(
                    py,
                    [
                        w.contact_id.as_deref().into_bound_py_any(py)?,
                        o(py, &w.started).into_bound_py_any(py)?,
                        w.timeout_s.into_bound_py_any(py)?,
                        o(py, &w.deadline).into_bound_py_any(py)?,
                        w.event_index.into_bound_py_any(py)?,
                    ],
                )?
                .into_any(),
            };
            out.set_item(
                "agent",
                PyTuple::new(
                    py,
                    [
                        (&*a.state).into_bound_py_any(py)?,
                        (&*a.label).into_bound_py_any(py)?,
                        (&*a.out_reason).into_bound_py_any(py)?,
                        time_obj(py, &a.since).into_bound_py_any(py)?,
                        a.is_acw.into_bound_py_any(py)?,
                        a.acw_timeout_s.into_bound_py_any(py)?,
                        a.next_states.bind(py).clone(),
                        acw,
                        a.entered_index.into_bound_py_any(py)?,
                        src_obj(py, kit, &a.entered_source)?.into_bound_py_any(py)?,
                        a.interval_index.into_bound_py_any(py)?,
                        a.contact_seen.into_bound_py_any(py)?,
                        a.last_digest.into_bound_py_any(py)?,
                    ],
                )?,
            )?;
        }
        let leg_tuple = |leg: &Leg| -> PyResult<Bound<'py, PyAny>> {
            Ok(PyTuple::new(
                py,
                [
                    leg.leg_id.as_deref().into_bound_py_any(py)?,
                    (&*leg.state).into_bound_py_any(py)?,
                    (&*leg.status).into_bound_py_any(py)?,
                    leg.final_.into_bound_py_any(py)?,
                    objs(py, &leg.errors)?,
                    leg.last_digest.into_bound_py_any(py)?,
                ],
            )?
            .into_any())
        };
        let contact_tuple = |c: &Contact| -> PyResult<Bound<'py, PyAny>> {
            Ok(PyTuple::new(
                py,
                [
                    c.contact_id.as_str().into_bound_py_any(py)?,
                    kit.kinds[c.media].media.as_str().into_bound_py_any(py)?,
                    (&*c.state).into_bound_py_any(py)?,
                    (&*c.status).into_bound_py_any(py)?,
                    c.first_index.into_bound_py_any(py)?,
                    c.final_.into_bound_py_any(py)?,
                    c.is_linked.into_bound_py_any(py)?,
                    c.is_inbound.into_bound_py_any(py)?,
                    c.call_type.as_deref().into_bound_py_any(py)?,
                    c.skill.as_deref().into_bound_py_any(py)?,
                    o(py, &c.started).into_bound_py_any(py)?,
                    time_obj(py, &c.last_change).into_bound_py_any(py)?,
                    c.disconnect_code.as_deref().into_bound_py_any(py)?,
                    c.final_index.into_bound_py_any(py)?,
                    c.acw_phase_index.into_bound_py_any(py)?,
                    c.room_id.as_deref().into_bound_py_any(py)?,
                    match &c.transcript {
                        None => py.None().into_bound(py),
                        Some(t) => PyList::new(py, t.bind(py).iter())?.into_any(),
                    },
                    o(py, &c.payload).into_bound_py_any(py)?,
                    objs(py, &c.errors)?,
                    c.last_digest.into_bound_py_any(py)?,
                    o(py, &c.desktop).into_bound_py_any(py)?,
                ],
            )?
            .into_any())
        };
        if want("leg") {
            out.set_item("leg", match &self.leg {
                None => py.None().into_bound(py),
                Some(leg) => leg_tuple(leg)?,
            })?;
        }
        if want("past_legs") {
            out.set_item("past_legs", PyList::new(py, rare.past_legs.iter().map(&leg_tuple).collect::<PyResult<Vec<_>>>()?)?)?;
        }
        if want("contacts") {
            out.set_item("contacts", PyList::new(py, self.contacts.values().map(|c| contact_tuple(c)).collect::<PyResult<Vec<_>>>()?)?)?;
        }
        if want("closed") {
            out.set_item("closed", PyList::new(py, self.closed.values().map(|c| contact_tuple(c)).collect::<PyResult<Vec<_>>>()?)?)?;
        }
        let maps = [
            ("indicators", &rare.indicators),
            ("page_opens", &rare.page_opens),
            ("pop_urls", &rare.pop_urls),
            ("custom_events", &rare.custom_events),
        ];
        for (name, map) in maps {
            if want(name) {
                out.set_item(name, match map {
                    None => py.None().into_bound(py),
                    Some(map) => {
                        let d = PyDict::new(py);
                        for (k, v) in map {
                            d.set_item(k, v.bind(py))?;
                        }
                        d.into_any()
                    }
                })?;
            }
        }
        for (name, map) in [("signals", &rare.signals), ("unknown_types", &rare.unknown_types)] {
            if want(name) {
                out.set_item(name, match map {
                    None => py.None().into_bound(py),
                    Some(map) => {
                        let d = PyDict::new(py);
                        for (k, v) in map {
                            d.set_item(k, v)?;
                        }
                        d.into_any()
                    }
                })?;
            }
        }
        if want("rooms") {
            let d = PyDict::new(py);
            for (k, v) in &rare.rooms {
                d.set_item(k, v)?;
            }
            out.set_item("rooms", d)?;
        }
        for (name, value) in [("_start_batch", &self.start_batch), ("_batch", &self.batch)] {
            if want(name) {
                out.set_item(name, src_obj(py, kit, value)?)?;
            }
        }
        let singles: [(&str, &Option<Obj>); 4] = [
            ("monitoring", &rare.monitoring),
            ("take_over", &rare.take_over),
            ("skill_list", &rare.skill_list),
            ("hours_of_operation", &rare.hours_of_operation),
        ];
        for (name, value) in singles {
            if want(name) {
                out.set_item(name, o(py, value))?;
            }
        }
        if want("linked_contact_id") {
            out.set_item("linked_contact_id", self.linked_contact_id.as_deref())?;
        }
        if want("monitor_contact_id") {
            out.set_item("monitor_contact_id", rare.monitor_contact_id.as_deref())?;
        }
        if want("session_errors") {
            out.set_item("session_errors", PyList::new(py, rare.session_errors.iter().map(|e| e.bind(py)))?)?;
        }
        if want("muted") {
            out.set_item("muted", rare.muted)?;
        }
        if want("violations") {
            out.set_item("violations", PyList::new(py, self.violations.iter().map(|v| v.bind(py)))?)?;
        }
        if want("_last_ended_contact") {
            out.set_item("_last_ended_contact", self.last_ended_contact.as_ref().map(|(c, i)| (c.as_str(), *i)))?;
        }
        if want("_recent") {
            out.set_item("_recent", self.recent.as_ref().map(|ring| ring.to_vec()))?;
        }
        if want("_recent_at") {
            out.set_item("_recent_at", self.recent_at)?;
        }
        if want("_batch_digests") {
            out.set_item("_batch_digests", self.batch_digests.clone())?;
        }
        if want("_previous_batch") {
            out.set_item("_previous_batch", self.previous_batch.clone())?;
        }
        if want("_repeating") {
            out.set_item("_repeating", self.repeating)?;
        }
        Ok(out)
    }

    /// Take the state `export` gives (from either engine's records, `engine/native.py`).
    fn restore(&mut self, py: Python<'_>, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let get = |name: &str| item(state, name);
        let kit = self.kit.clone_ref(py);
        let micros = kit.get().micros.bind(py);
        let word = |value: Bound<'_, PyAny>| -> PyResult<Word> { Ok(kit.get().name(&value.extract::<String>()?)) };
        let time = |value: Bound<'_, PyAny>| -> PyResult<Option<Time>> {
            match opt(value) {
                None => Ok(None),
                Some(v) => Ok(Some(Time { us: micros.call1((&v,))?.extract()?, obj: v.unbind() })),
            }
        };
        let media_of = |name: &str| -> PyResult<usize> {
            kit.get()
                .kinds
                .iter()
                .position(|k| k.media == name)
                .ok_or_else(|| PyValueError::new_err(format!("no media {name:?}")))
        };
        let info = get("info")?;
        self.info = Info {
            session_id: info.get_item(0)?.extract()?,
            agent_id: info.get_item(1)?.extract()?,
            bus_no: info.get_item(2)?.extract()?,
            status: word(info.get_item(3)?)?,
            end_reason: info.get_item(4)?.extract()?,
            end_message: info.get_item(5)?.extract()?,
            end_success: info.get_item(6)?.extract()?,
            end_index: info.get_item(7)?.extract()?,
            saw_start: info.get_item(8)?.extract()?,
            saw_end_event: info.get_item(9)?.extract()?,
            remote_end_index: info.get_item(10)?.extract()?,
            remote_end_source: opt(info.get_item(11)?).map(|v| Src::Py(v.unbind())),
            first_source: opt(info.get_item(12)?).map(|v| Src::Py(v.unbind())),
        };
        let a = get("agent")?;
        let acw = opt(a.get_item(7)?)
            .map(|w| -> PyResult<Box<Acw>> {
                Ok(Box::new(Acw {
                    contact_id: w.get_item(0)?.extract()?,
                    started: opt(w.get_item(1)?).map(Bound::unbind),
                    timeout_s: w.get_item(2)?.extract()?,
                    deadline: opt(w.get_item(3)?).map(Bound::unbind),
                    event_index: w.get_item(4)?.extract()?,
                }))
            })
            .transpose()?;
        self.agent = Agent {
            state: word(a.get_item(0)?)?,
            label: word(a.get_item(1)?)?,
            out_reason: word(a.get_item(2)?)?,
            since: time(a.get_item(3)?)?,
            is_acw: a.get_item(4)?.extract()?,
            acw_timeout_s: a.get_item(5)?.extract()?,
            next_states: a.get_item(6)?.unbind(),
            acw,
            entered_index: a.get_item(8)?.extract()?,
            entered_source: opt(a.get_item(9)?).map(|v| Src::Py(v.unbind())),
            interval_index: a.get_item(10)?.extract()?,
            contact_seen: a.get_item(11)?.extract()?,
            last_digest: a.get_item(12)?.extract()?,
        };
        let leg_of = |t: Bound<'_, PyAny>| -> PyResult<Leg> {
            Ok(Leg {
                leg_id: t.get_item(0)?.extract()?,
                state: word(t.get_item(1)?)?,
                status: word(t.get_item(2)?)?,
                final_: t.get_item(3)?.extract()?,
                errors: list_of(t.get_item(4)?)?,
                last_digest: t.get_item(5)?.extract()?,
            })
        };
        let contact_of = |t: Bound<'_, PyAny>| -> PyResult<Contact> {
            let transcript = opt(t.get_item(16)?)
                .map(|lines| -> PyResult<Py<PyList>> { Ok(PyList::new(py, lines.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.unbind()) })
                .transpose()?;
            Ok(Contact {
                contact_id: t.get_item(0)?.extract()?,
                media: media_of(&t.get_item(1)?.extract::<String>()?)?,
                state: word(t.get_item(2)?)?,
                status: word(t.get_item(3)?)?,
                first_index: t.get_item(4)?.extract()?,
                final_: t.get_item(5)?.extract()?,
                is_linked: t.get_item(6)?.extract()?,
                is_inbound: t.get_item(7)?.extract()?,
                call_type: t.get_item(8)?.extract()?,
                skill: t.get_item(9)?.extract()?,
                started: opt(t.get_item(10)?).map(Bound::unbind),
                last_change: time(t.get_item(11)?)?,
                disconnect_code: t.get_item(12)?.extract()?,
                final_index: t.get_item(13)?.extract()?,
                acw_phase_index: t.get_item(14)?.extract()?,
                room_id: t.get_item(15)?.extract()?,
                transcript,
                transcript_seen: None,
                payload: opt(t.get_item(17)?).map(Bound::unbind),
                errors: list_of(t.get_item(18)?)?,
                last_digest: t.get_item(19)?.extract()?,
                desktop: opt(t.get_item(20)?).map(Bound::unbind),
            })
        };
        self.leg = opt(get("leg")?).map(leg_of).transpose()?;
        self.rare_mut().past_legs = get("past_legs")?.try_iter()?.map(|t| leg_of(t?)).collect::<PyResult<_>>()?;
        self.contacts = IndexMap::default();
        for t in get("contacts")?.try_iter()? {
            let contact = contact_of(t?)?;
            self.contacts.insert(contact.contact_id.clone(), Box::new(contact));
        }
        self.closed = IndexMap::default();
        for t in get("closed")?.try_iter()? {
            let contact = contact_of(t?)?;
            self.closed.insert(contact.contact_id.clone(), Box::new(contact));
        }
        let obj_map = |name: &str| -> PyResult<Option<IndexMap<String, Obj, FxBuildHasher>>> {
            let value = get(name)?;
            if value.is_none() || value.len()? == 0 {
                return Ok(None);
            }
            let mut map = IndexMap::default();
            for pair in value.call_method0("items")?.try_iter()? {
                let (k, v): (String, Bound<'_, PyAny>) = pair?.extract()?;
                map.insert(k, v.unbind());
            }
            Ok(Some(map))
        };
        self.rare_mut().indicators = obj_map("indicators")?;
        self.rare_mut().page_opens = obj_map("page_opens")?;
        self.rare_mut().pop_urls = obj_map("pop_urls")?;
        self.rare_mut().custom_events = obj_map("custom_events")?;
        let counts = |name: &str| -> PyResult<Option<IndexMap<String, i64, FxBuildHasher>>> {
            let value = get(name)?;
            if value.is_none() || value.len()? == 0 {
                return Ok(None);
            }
            let mut map = IndexMap::default();
            for pair in value.call_method0("items")?.try_iter()? {
                let (k, v): (String, i64) = pair?.extract()?;
                map.insert(k, v);
            }
            Ok(Some(map))
        };
        self.rare_mut().signals = counts("signals")?;
        self.rare_mut().unknown_types = counts("unknown_types")?;
        self.rare_mut().rooms = IndexMap::default();
        for pair in get("rooms")?.call_method0("items")?.try_iter()? {
            let (k, v): (String, String) = pair?.extract()?;
            self.rare_mut().rooms.insert(k, v);
        }
        self.rare_mut().monitoring = opt(get("monitoring")?).map(Bound::unbind);
        self.rare_mut().take_over = opt(get("take_over")?).map(Bound::unbind);
        self.rare_mut().skill_list = opt(get("skill_list")?).map(Bound::unbind);
        self.rare_mut().hours_of_operation = opt(get("hours_of_operation")?).map(Bound::unbind);
        self.start_batch = opt(get("_start_batch")?).map(|v| Src::Py(v.unbind()));
        self.batch = opt(get("_batch")?).map(|v| Src::Py(v.unbind()));
        self.linked_contact_id = get("linked_contact_id")?.extract()?;
        self.rare_mut().monitor_contact_id = get("monitor_contact_id")?.extract()?;
        self.rare_mut().session_errors = list_of(get("session_errors")?)?.unwrap_or_default();
        self.rare_mut().muted = get("muted")?.extract()?;
        self.violations = list_of(get("violations")?)?.unwrap_or_default();
        self.position = get("position")?.extract()?;
        self.events = get("events")?.extract()?;
        self.finished = get("finished")?.extract()?;
        if self.rare.as_deref().is_some_and(Rare::is_empty) {
            self.rare = None;
        }
        self.last_ended_contact = get("_last_ended_contact")?.extract()?;
        let recent: Option<Vec<u64>> = get("_recent")?.extract()?;
        self.recent = match recent {
            None => None,
            Some(digests) => {
                let ring: [u64; RECENT] = digests
                    .try_into()
                    .map_err(|_| PyValueError::new_err(format!("_recent holds {RECENT} digests")))?;
                Some(Box::new(ring))
            }
        };
        self.recent_at = get("_recent_at")?.extract()?;
        self.batch_digests = get("_batch_digests")?.extract()?;
        self.previous_batch = get("_previous_batch")?.extract()?;
        self.repeating = get("_repeating")?.extract()?;
        Ok(())
    }
}

fn objs<'py>(py: Python<'py>, values: &Option<Vec<Obj>>) -> PyResult<Bound<'py, PyAny>> {
    match values {
        None => Ok(py.None().into_bound(py)),
        Some(values) => Ok(PyList::new(py, values.iter().map(|v| v.bind(py)))?.into_any()),
    }
}

fn list_of(value: Bound<'_, PyAny>) -> PyResult<Option<Vec<Obj>>> {
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(value.try_iter()?.map(|v| v.map(Bound::unbind)).collect::<PyResult<_>>()?))
}

