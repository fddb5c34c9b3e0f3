/* The session_fsm wallboard: live agent states, open contacts and violations.
 *
 * How it stays live. It loads every snapshot (GET api/sessions), then listens to the
 * change stream (EventSource on api/changes, from that snapshot's last_change_id). A
 * change only says which session changed: the session is marked dirty, and every
 * REFETCH_MS the dirty ones are fetched again (api/sessions?key=A&key=B) and their rows
 * replaced, so what is shown is always the service's own snapshot, never a second
 * engine in the browser. The stream is opened BACKFILL_CHANGES before that snapshot, and
 * those older changes only fill the violations list (the snapshot already has them). A
 * "reset" event (the service lost this client's place), or the stream coming back after
 * an error (the service may have restarted), re-reads every snapshot. EventSource
 * reconnects by itself with Last-Event-ID; if the browser gives up (an HTTP error), the
 * script opens a new one from the last id it saw.
 *
 * Ten thousand agents. Each snapshot is turned once, when it arrives, into a record
 * holding what sorting, filtering and drawing need (its state bucket, times as numbers,
 * its skills, its search text), so that a redraw never parses a date. Answers only
 * update records; one redraw per animation frame then sorts and filters the records and
 * draws the rows in view: the two long lists are VirtualTables, whose body is as tall as
 * every row would be and holds only the rows in view (and a few either side), moved
 * into place and refilled as the list scrolls. Rows have one fixed height per layout
 * (the CSS's --row-h), which is what lets a scroll position say which rows are in view.
 *
 * Filters. A state (a tile, or the list), a skill, a search: they narrow the agents and
 * the contacts panel (the contacts of the agents shown, of that skill). The stream names
 * no team, and an agent's skills only through its contacts: the skill filter is the
 * skill of an open contact. Tiles and the lists' counts are of the agents the other
 * filters leave, so a state tile says how many the state filter would show. The filters
 * are kept in the address (?state=&skill=&q=), so a screen can be opened filtered.
 *
 * Time. Times in the snapshots are the platform's clock. Each answer carries the
 * service's estimate of the platform's clock now (server_time); the page keeps the
 * offset from this browser's clock and ticks every second on the corrected clock, so a
 * browser or service whose clock is off still shows the right time in state.
 *
 * Safety. Keys, out reasons and messages come from the network: every value is put in
 * the page as text (textContent, createElement), never as HTML. With an API token the
 * page is opened as /#token=TOKEN: the token moves into the session_fsm_token cookie
 * (an EventSource cannot send a header) and leaves the address bar.
 */
(function () {
  "use strict";

  var REFETCH_MS = 300;          // dirty sessions are fetched again at most this often
  var VIOLATIONS_KEPT = 50;      // the violations list shows this many, newest first
  var BACKFILL_CHANGES = 2000;   // at load, recent changes read for the violations list
  var KEYS_PER_REQUEST = 80;     // session keys in one api/sessions?key=... request
  // a burst that dirties more sessions than this (and a quarter of them) is read with
  // one api/sessions rather than a hundred requests of KEYS_PER_REQUEST keys
  var FULL_READ_OVER = 8 * KEYS_PER_REQUEST;
  var OVERSCAN = 8;              // rows drawn beyond each edge of the view
  // a list this short is all in the page: it costs nothing at that size, and the
  // browser's find-in-page and a screen reader then reach every row
  var ALL_ROWS_UP_TO = 250;
  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 15000;
  var COOKIE = "session_fsm_token";
  var OVERDUE = "overdue";       // the state filter's "ACW past its deadline"

  // [bucket, label, css class]: tile order and the table's grouping order
  var STATES = [
    ["Available", "Available", "st-available"],
    ["InboundContact", "Inbound", "st-inbound"],
    ["OutboundContact", "Outbound", "st-outbound"],
    ["InboundConsult", "Consult in", "st-consult"],
    ["OutboundConsult", "Consult out", "st-consult"],
    ["Dialer", "Dialer", "st-dialer"],
    ["DialerPending", "Dialer pending", "st-dialer"],
    ["ACW", "ACW", "st-acw"],
    ["Unavailable", "Unavailable", "st-unavailable"],
    ["Refused", "Refused", "st-refused"],
    ["LoggedIn", "Logged in", "st-loggedin"],
    ["LoggedOut", "Logged out", "st-loggedout"],
    ["Unknown", "No state yet", "st-unknown"],
    ["ended", "Ended", "st-ended"]
  ];
  var ALWAYS_SHOWN = {Available: 1, InboundContact: 1, OutboundContact: 1, ACW: 1, Unavailable: 1};
  var RANK = {}, LABEL = {}, CLASS = {};
  STATES.forEach(function (s, i) { RANK[s[0]] = i; LABEL[s[0]] = s[1]; CLASS[s[0]] = s[2]; });

  // --- state -------------------------------------------------------------------------
  var records = new Map();       // key -> record (the snapshot entry and what is derived)
  var appliedSeq = new Map();    // key -> number of the request whose answer is shown
  var requestSeq = 0;            // requests numbered, so an older answer never wins
  var clockSeq = -1;
  var offsetMs = 0;              // server clock minus this browser's clock
  var skewS = null;
  var dirty = new Set();
  var flushTimer = null;
  var fullRunning = false, fullAgain = false, fullFailed = false, fullTimer = null;
  var fullRetryMs = RETRY_MIN_MS;
  var source = null, streamBroken = false, reconnectTimer = null, reconnectMs = RETRY_MIN_MS;
  var lastSeenId = 0;            // the newest change id received on the stream
  var baseline = 0;              // changes up to this id are already in the snapshots
  var needsToken = false, tokenProblem = null;

  var filter = {state: "", skill: "", query: ""};
  var modelChanged = true;       // records changed since the last sort
  var renderQueued = false;
  var sorted = [];               // every record, in the table's order
  var allContacts = [];          // every open contact, oldest first
  var faceted = [];              // the records the skill and search filters leave
  var shownAgents = [];          // ... and the state filter: the agents table's rows
  var shownOverdue = 0;
  var activeCount = 0, openCount = 0;
  var skillsShown = "";          // the skill options drawn, joined (rebuilt on a change)

  var ui = {};
  var agentsTable = null, contactsTable = null;
  var tiles = new Map();         // bucket -> tile elements
  var violationCount = 0;

  // --- small helpers -----------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  // a text that changes changes its Text node in place: textContent would put a new node
  // there, which Chromium must style and lay out afresh (a third of a scroll frame's
  // cost, when every row in view is refilled)
  function setText(node, text) {
    text = String(text);
    var only = node.firstChild;
    if (text !== "" && only !== null && only === node.lastChild && only.nodeType === 3) {
      if (only.nodeValue !== text) only.nodeValue = text;
    } else if (node.textContent !== text) {
      node.textContent = text;
    }
  }
  function setClass(node, cls) {
    if (node.className !== cls) node.className = cls;
  }
  function setAttr(node, name, value) {
    value = String(value);
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }
  function str(value, fallback) {
    return typeof value === "string" && value !== "" ? value : fallback;
  }
  // 10,000: by hand, as toLocaleString took a tenth of a redraw (it is called for every
  // tile and option of every redraw)
  function count(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function parseTime(iso) {
    if (typeof iso !== "string") return null;
    var ms = Date.parse(iso);
    return isNaN(ms) ? null : ms;
  }
  function serverNow() { return Date.now() + offsetMs; }
  function two(n) { return n < 10 ? "0" + n : String(n); }
  function duration(ms) {
    if (ms === null || !isFinite(ms)) return "—";
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    s = s % 60;
    if (d > 0) return d + "d " + two(h) + ":" + two(m);
    if (h > 0) return h + ":" + two(m) + ":" + two(s);
    return m + ":" + two(s);
  }
  function clockText(ms) {
    var t = new Date(ms);
    return two(t.getUTCHours()) + ":" + two(t.getUTCMinutes()) + ":" + two(t.getUTCSeconds()) + " UTC";
  }
  function bucketOf(entry) {
    if (entry.session && entry.session.status === "ended") return "ended";
    var a = entry.agent_state;
    if (!a || typeof a.state !== "string") return "Unknown";
    if (a.is_acw) return "ACW";
    return a.state;
  }
  var SHORT_MEDIA = {work_item: "work", voicemail: "vm", supervisor: "monitor"};
  function mediaLabel(media) {
    return media === "work_item" ? "work item" : str(media, "?");
  }
  // the call linked to the agent's voice path (a dialer call): the session names it, and
  // the call says so itself (the engine keeps the two in agreement)
  function isLinked(contact, entry) {
    return contact.is_linked === true ||
      (typeof entry.linked_contact_id === "string" && entry.linked_contact_id === contact.contact_id);
  }
  function classOf(bucket) { return CLASS[bucket] || "st-other"; }
  function labelOf(bucket) { return LABEL[bucket] || bucket; }
  function rankOf(bucket) { return bucket in RANK ? RANK[bucket] : RANK.Unknown - 0.5; }
  function statusClass(status) { return "cs-" + str(status, "unknown").toLowerCase(); }

  // --- records: a snapshot entry and what the board derives from it, once ------------
  function makeRecord(entry) {
    var info = entry.session || {};
    var a = entry.agent_state;
    var bucket = bucketOf(entry);
    var since = a ? parseTime(a.since) : null;
    var agentId = str(info.agent_id, "");
    var record = {
      key: entry.key, entry: entry, bucket: bucket, rank: rankOf(bucket),
      since: since, sinceOrder: since === null ? Infinity : since,
      deadline: a && a.is_acw && bucket !== "ended" ? parseTime(a.acw_deadline) : null,
      agentId: agentId, search: (entry.key + "\n" + agentId).toLowerCase(),
      contacts: [], skills: []
    };
    (Array.isArray(entry.contacts) ? entry.contacts : []).forEach(function (c) {
      var item = {contact: c, record: record, started: parseTime(c.started),
                  skill: str(c.skill, ""), linked: isLinked(c, entry)};
      record.contacts.push(item);
      if (item.skill && record.skills.indexOf(item.skill) < 0) record.skills.push(item.skill);
    });
    return record;
  }

  function compareRecords(a, b) {
    // grouped by state, longest in state first, then by key; a state with no start
    // time goes last in its group (Infinity - Infinity is NaN, which falls through)
    return a.rank - b.rank || a.sinceOrder - b.sinceOrder ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }

  function compareContacts(a, b) {
    if (a.started === b.started) return 0;
    if (a.started === null) return 1;
    if (b.started === null) return -1;
    return a.started - b.started;
  }

  // --- the token ----------------------------------------------------------------------
  function takeToken() {
    var hash = window.location.hash;
    if (hash.indexOf("#token=") !== 0) return;
    var token = hash.slice(7);
    try { token = decodeURIComponent(token); } catch (e) { /* keep it as written */ }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    // RFC 6265 cookie-octets only: a token with a quote, comma, semicolon or backslash
    // cannot travel as a cookie unchanged
    if (!/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/.test(token)) {
      tokenProblem = "This token cannot be sent as a cookie (it holds a quote, comma, " +
        "semicolon, backslash or space): give the service a token without them.";
      return;
    }
    document.cookie = COOKIE + "=" + token + "; path=/; SameSite=Strict" +
      (window.location.protocol === "https:" ? "; Secure" : "");
  }

  // --- talking to the service --------------------------------------------------------
  function getJSON(url) {
    return window.fetch(url, {credentials: "same-origin", cache: "no-store",
                              headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (response.status === 401) {
          needsToken = true;
          showConnection();
          throw new Error("the API needs its token");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        needsToken = false;
        return response.json();
      });
  }

  function noteClock(doc, seq) {
    if (seq < clockSeq) return;
    clockSeq = seq;
    var server = parseTime(doc.server_time);
    offsetMs = server === null ? 0 : server - Date.now();
    skewS = typeof doc.skew_s === "number" ? doc.skew_s : null;
  }

  function take(entry, seq) {
    if (!entry || typeof entry.key !== "string") return;
    var shown = appliedSeq.get(entry.key);
    if (shown !== undefined && shown > seq) return;
    records.set(entry.key, makeRecord(entry));
    appliedSeq.set(entry.key, seq);
    modelChanged = true;
  }

  function refreshAll() {
    if (fullTimer !== null) { window.clearTimeout(fullTimer); fullTimer = null; }
    if (fullRunning) { fullAgain = true; return; }
    fullRunning = true;
    dirty.clear();            // this answer covers every change marked so far
    var seq = ++requestSeq;
    getJSON("api/sessions").then(function (doc) {
      var present = new Set();
      (doc.sessions || []).forEach(function (entry) { take(entry, seq); present.add(entry.key); });
      records.forEach(function (record, key) {   // gone from the service (a restart without its state)
        if (!present.has(key) && appliedSeq.get(key) < seq) {
          records.delete(key); appliedSeq.delete(key); modelChanged = true;
        }
      });
      noteClock(doc, seq);
      fullRetryMs = RETRY_MIN_MS;
      scheduleRender();
      if (source === null) {
        baseline = lastSeenId = typeof doc.last_change_id === "number" ? doc.last_change_id : 0;
        // the backfill starts no earlier than the oldest change kept (ids begin at a
        // run's start time, not at 1: an id before the log is a reset)
        var oldest = typeof doc.oldest_change_id === "number" ? doc.oldest_change_id : 1;
        connect(Math.max(0, oldest - 1, baseline - BACKFILL_CHANGES));
      }
    }).catch(function () {
      fullFailed = true;
      showConnection();
    }).then(function () {
      fullRunning = false;
      if (fullFailed) {         // the service is away: ask again, less and less often
        fullFailed = fullAgain = false;
        fullTimer = window.setTimeout(refreshAll, fullRetryMs);
        fullRetryMs = Math.min(RETRY_MAX_MS, fullRetryMs * 2);
      } else if (fullAgain) {   // asked for again while this one ran
        fullAgain = false;
        refreshAll();
      }
    });
  }

  function markDirty(key) {
    dirty.add(key);
    if (flushTimer === null) flushTimer = window.setTimeout(flush, REFETCH_MS);
  }

  function flush() {
    flushTimer = null;
    if (dirty.size === 0) return;
    if (dirty.size > FULL_READ_OVER && dirty.size * 4 > records.size) {
      refreshAll();
      return;
    }
    var keys = Array.from(dirty);
    dirty.clear();
    for (var i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
      fetchSome(keys.slice(i, i + KEYS_PER_REQUEST));
    }
  }

  function fetchSome(keys) {
    var seq = ++requestSeq;
    var query = keys.map(function (k) { return "key=" + encodeURIComponent(k); }).join("&");
    getJSON("api/sessions?" + query).then(function (doc) {
      (doc.sessions || []).forEach(function (entry) { take(entry, seq); });
      noteClock(doc, seq);
      scheduleRender();
    }).catch(function () {
      keys.forEach(function (k) { dirty.add(k); });
      if (flushTimer === null) flushTimer = window.setTimeout(flush, RETRY_MIN_MS * 2);
    });
  }

  function connect(after) {
    if (source !== null) source.close();
    lastSeenId = after;
    var stream = new window.EventSource("api/changes?after=" + after);
    source = stream;
    stream.onopen = function () {
      if (stream !== source) return;
      reconnectMs = RETRY_MIN_MS;
      var wasBroken = streamBroken;
      streamBroken = false;
      showConnection();
      if (wasBroken) refreshAll();   // the service may have restarted: read everything again
    };
    stream.onerror = function () {
      if (stream !== source) return;
      streamBroken = true;
      showConnection();
      if (stream.readyState === window.EventSource.CLOSED) {  // the browser gave up
        scheduleReconnect();
      }
    };
    stream.onmessage = function (message) {
      if (stream !== source) return;
      var id = Number(message.lastEventId);
      if (isFinite(id) && message.lastEventId !== "") lastSeenId = id;
      onChange(message.data, id);
    };
    stream.addEventListener("reset", function (message) {
      if (stream !== source) return;
      var id = Number(message.lastEventId);
      lastSeenId = baseline = isFinite(id) ? id : 0;
      refreshAll();
    });
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    var wait = reconnectMs;
    reconnectMs = Math.min(RETRY_MAX_MS, reconnectMs * 2);
    reconnectTimer = window.setTimeout(function () {
      reconnectTimer = null;
      connect(lastSeenId);
      refreshAll();   // also finds out whether the token is the trouble
    }, wait);
  }

  function onChange(data, id) {
    var change;
    try { change = JSON.parse(data); } catch (e) { return; }
    if (!change || typeof change !== "object") return;
    var live = !(id <= baseline);
    if (change.kind === "violation") addViolation(change, live);
    if (live && typeof change.session === "string") markDirty(change.session);
  }

  // --- a table that draws only the rows in view ----------------------------------------
  /* The body (a positioned block as tall as every row) holds the rows in view and
   * OVERSCAN either side (every row, in a list of up to ALL_ROWS_UP_TO), each placed by a transform at its index times the row height.
   * The rows stay in the page and in order: the j-th shows the j-th item from the first
   * in view, and a scroll refills their texts (only those that differ) and moves them.
   * Taking a row out of the page and putting it back, as rows that follow their item
   * would need to keep the page's order the visual one (what a screen reader follows),
   * costs Chromium a style pass of the row each time: a jump across the list took 15 ms
   * that way, and takes a few now. aria-rowindex says where each row is in the list. */
  function VirtualTable(scroller, table, spec) {
    this.scroller = scroller;
    this.table = table;
    this.body = table.tBodies[0];
    this.spec = spec;            // {make(), fill(row, item), tick(row, now)}
    this.items = [];
    this.rows = [];              // in the body, in order
    this.spare = [];             // made once, not needed in view now
    this.rowHeight = 0;
    this.sized = -1;
    var self = this;
    scroller.addEventListener("scroll", function () { self.draw(); }, {passive: true});
  }
  VirtualTable.prototype.measure = function () {
    // the row height the CSS gives this layout: every position is a multiple of it
    var height = parseFloat(window.getComputedStyle(this.body).getPropertyValue("--row-h"));
    if (!(height > 0)) height = 40;
    if (height !== this.rowHeight) {
      this.rowHeight = height;
      this.sized = -1;
      this.rows.forEach(function (row) { row.index = -1; });
    }
  };
  VirtualTable.prototype.setItems = function (items) {
    this.items = items;
    this.draw();
  };
  VirtualTable.prototype.draw = function () {
    var items = this.items, rowHeight = this.rowHeight, rows = this.rows;
    if (this.sized !== items.length) {
      this.sized = items.length;
      this.body.style.height = items.length * rowHeight + "px";
      setAttr(this.table, "aria-rowcount", items.length + 1);
    }
    // the body's top is below the header: the view in the body's coordinates
    var top = this.scroller.scrollTop - this.body.offsetTop;
    var first = 0, last = items.length;
    if (items.length > ALL_ROWS_UP_TO) {
      first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
      last = Math.min(items.length,
                      Math.ceil((top + this.scroller.clientHeight) / rowHeight) + OVERSCAN);
    }
    var needed = Math.max(0, last - first), row;
    while (rows.length < needed) {
      row = this.spare.pop() || this.spec.make();
      rows.push(row);
      this.body.appendChild(row.tr);
    }
    while (rows.length > needed) {
      row = rows.pop();
      row.tr.remove();
      row.item = null;
      this.spare.push(row);
    }
    for (var j = 0; j < needed; j++) {
      var i = first + j;
      row = rows[j];
      if (row.index !== i) {
        row.index = i;
        row.tr.style.transform = "translateY(" + i * rowHeight + "px)";
        row.tr.setAttribute("aria-rowindex", String(i + 2));
      }
      if (row.item !== items[i]) { row.item = items[i]; this.spec.fill(row, items[i]); }
    }
  };
  VirtualTable.prototype.tick = function (now) {
    var spec = this.spec;
    this.rows.forEach(function (row) { spec.tick(row, now); });
  };

  // --- the agents' rows --------------------------------------------------------------
  // a row shows its first open contact as a chip, then "+N": one, so that a row reads in
  // full at 1,280 pixels and on a phone (every contact is in the contacts panel)

  function newAgentRow() {
    var row = {tr: el("tr"), item: null, index: -1};
    row.tr.setAttribute("role", "row");
    row.name = el("td", "key");
    row.agentId = el("td", "agent-id");
    row.stateCell = el("td", "state");
    row.pill = el("span", "pill");
    row.stateCell.appendChild(row.pill);
    // the detail: the out reason, an ACW's time left or overdue, or how a session ended
    row.detail = el("td", "detail");
    row.badge = el("span", "badge");
    row.reason = el("span", "reason");
    row.detail.appendChild(row.badge);
    row.detail.appendChild(row.reason);
    row.time = el("td", "num time");
    // the first open contact and "+N" for the others: made once, emptied (and hidden by
    // the CSS) when there is none
    row.contacts = el("td", "chips");
    row.chip = el("span", "chip");
    row.more = el("span", "chip more");
    row.contacts.appendChild(row.chip);
    row.contacts.appendChild(row.more);
    row.violations = el("td", "num viol");
    [row.name, row.agentId, row.stateCell, row.detail, row.time, row.contacts, row.violations]
      .forEach(function (td) { td.setAttribute("role", "cell"); row.tr.appendChild(td); });
    return row;
  }

  function fillAgentRow(row, record) {
    var entry = record.entry, info = entry.session || {}, a = entry.agent_state;
    row.tr.setAttribute("data-key", record.key);
    setText(row.name, record.key);
    row.name.title = record.key;
    setText(row.agentId, record.agentId || "—");
    setClass(row.pill, "pill " + classOf(record.bucket));
    setText(row.pill, labelOf(record.bucket));
    var reason = "";
    if (record.bucket === "ended") {
      reason = str(info.end_message, str(info.end_reason, ""));
    } else if (a) {
      reason = str(a.out_reason, "");
      if (a.is_acw && a.state !== "Unavailable") reason = a.state + (reason ? " · " + reason : "");
    }
    setText(row.reason, reason);
    row.detail.title = reason;
    // a chip names the contact; its status is drawn after it by the CSS from
    // data-status, so that the chip's text stays the contact's name
    var first = record.contacts[0];
    if (first === undefined) {
      setText(row.chip, "");
      setClass(row.chip, "chip");
      row.chip.removeAttribute("data-status");
      row.chip.title = "";
    } else {
      var c = first.contact, status = str(c.status, "?");
      setText(row.chip, (SHORT_MEDIA[c.media] || str(c.media, "?")) + " " + str(c.contact_id, "?"));
      setClass(row.chip, "chip " + statusClass(c.status) + (first.linked ? " linked" : ""));
      setAttr(row.chip, "data-status", status);
      row.chip.title = (first.linked ? "linked dialer call · " : "") + status;
    }
    var others = record.contacts.slice(1);
    setText(row.more, others.length ? "+" + others.length : "");
    row.more.title = others.map(function (item) {
      return str(item.contact.contact_id, "?") + " " + str(item.contact.status, "?");
    }).join(", ");
    var violations = typeof entry.violations === "number" ? entry.violations : 0;
    setText(row.violations, violations ? String(violations) : "");
    tickAgentRow(row, serverNow());
  }

  function tickAgentRow(row, now) {
    var record = row.item;
    var ended = record.bucket === "ended";
    setText(row.time, ended || record.since === null ? "—" : duration(now - record.since));
    var overdue = record.deadline !== null && record.deadline < now;
    if (record.deadline !== null) {
      setText(row.badge, overdue ? "overdue " + duration(now - record.deadline)
                                 : duration(record.deadline - now) + " left");
      setClass(row.badge, overdue ? "badge overdue" : "badge remaining");
    } else {
      setText(row.badge, "");
      setClass(row.badge, "badge");
    }
    setClass(row.tr, "agent " + classOf(record.bucket) + (overdue ? " acw-overdue" : "") +
                     (ended ? " ended" : ""));
  }

  // --- the contacts' rows ------------------------------------------------------------
  function newContactRow() {
    var row = {tr: el("tr"), item: null, index: -1};
    row.tr.setAttribute("role", "row");
    row.id = el("td", "contact-id");
    row.media = el("td", "media");
    row.mediaText = document.createTextNode("");
    row.linkTag = el("span", "link-tag", "linked");
    row.media.appendChild(row.mediaText);
    row.age = el("td", "num age");
    row.status = el("td", "status");
    row.statusText = el("span", "cstatus");
    row.status.appendChild(row.statusText);
    row.skill = el("td", "skill");
    row.agent = el("td", "key");
    // in reading order: what the contact is (id, media, skill) and its age, then its
    // status and whose it is
    [row.id, row.media, row.skill, row.age, row.status, row.agent]
      .forEach(function (td) { td.setAttribute("role", "cell"); row.tr.appendChild(td); });
    return row;
  }

  function fillContactRow(row, item) {
    var c = item.contact, key = item.record.key;
    setClass(row.tr, "contact" + (item.linked ? " linked" : ""));
    row.tr.setAttribute("data-contact", str(c.contact_id, ""));
    row.tr.setAttribute("data-session", key);
    setText(row.id, str(c.contact_id, "?"));
    row.id.title = row.id.textContent;
    var direction = c.is_inbound === true ? " in" : c.is_inbound === false ? " out" : "";
    row.mediaText.nodeValue = mediaLabel(c.media) + direction;
    if (item.linked) row.media.appendChild(row.linkTag);
    else row.linkTag.remove();
    row.media.title = item.linked ? "The dialer call linked to the agent's voice path" : "";
    setClass(row.statusText, "cstatus " + statusClass(c.status));
    setText(row.statusText, str(c.status, "?"));
    setText(row.skill, item.skill || "—");
    setText(row.agent, key);
    row.agent.title = key;
    tickContactRow(row, serverNow());
  }

  function tickContactRow(row, now) {
    var started = row.item.started;
    setText(row.age, started === null ? "—" : duration(now - started));
  }

  // --- filtering, and the one redraw -------------------------------------------------
  function isOverdue(record, now) { return record.deadline !== null && record.deadline < now; }

  function matchesFacets(record) {
    if (filter.skill && record.skills.indexOf(filter.skill) < 0) return false;
    return !filter.query || record.search.indexOf(filter.query) >= 0;
  }

  function matchesState(record, now) {
    if (!filter.state) return true;
    if (filter.state === OVERDUE) return isOverdue(record, now);
    return record.bucket === filter.state;
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    // one redraw a frame, however many answers arrive in it
    window.requestAnimationFrame(function () { renderQueued = false; render(); });
  }

  function render() {
    var now = serverNow();
    if (modelChanged) {
      sorted = Array.from(records.values()).sort(compareRecords);
      allContacts = [];
      sorted.forEach(function (record) {
        for (var i = 0; i < record.contacts.length; i++) allContacts.push(record.contacts[i]);
      });
      allContacts.sort(compareContacts);   // stable: ties keep the agents' order
    }
    modelChanged = false;

    // the agents: the facets (skill, search), then the state; counts for the tiles and
    // the lists from the facets alone
    var counts = {}, skillCounts = {}, i, record;
    faceted = [];
    shownAgents = [];
    activeCount = 0;
    openCount = allContacts.length;
    for (i = 0; i < sorted.length; i++) {
      record = sorted[i];
      if (record.bucket !== "ended") activeCount += 1;
      var stateOk = matchesState(record, now);
      if (stateOk && (!filter.query || record.search.indexOf(filter.query) >= 0)) {
        for (var s = 0; s < record.skills.length; s++) {
          skillCounts[record.skills[s]] = (skillCounts[record.skills[s]] || 0) + 1;
        }
      }
      if (!matchesFacets(record)) continue;
      faceted.push(record);
      counts[record.bucket] = (counts[record.bucket] || 0) + 1;
      if (stateOk) shownAgents.push(record);
    }
    agentsTable.setItems(shownAgents);

    // the contacts: those of the agents shown, of the chosen skill
    var filtered = filter.state || filter.skill || filter.query;
    var shownContacts = allContacts;
    if (filtered) {
      var keys = new Set();
      shownAgents.forEach(function (r) { keys.add(r.key); });
      shownContacts = allContacts.filter(function (item) {
        return keys.has(item.record.key) && (!filter.skill || item.skill === filter.skill);
      });
    }
    contactsTable.setItems(shownContacts);

    drawTiles(counts);
    drawStateOptions(counts);
    drawSkillOptions(skillCounts);

    var emptyText = records.size === 0 ? ui.agentsEmptyText : "No agent matches these filters.";
    if (!needsToken && tokenProblem === null) setText(ui.agentsEmpty, emptyText);
    ui.agentsEmpty.hidden = shownAgents.length > 0;
    ui.contactsEmpty.hidden = shownContacts.length > 0;
    setText(ui.agentCount, !records.size ? "" : shownAgents.length === records.size
      ? count(records.size) : count(shownAgents.length) + " of " + count(records.size));
    setText(ui.contactCount, !allContacts.length ? "" : shownContacts.length === allContacts.length
      ? count(allContacts.length) : count(shownContacts.length) + " of " + count(allContacts.length));
    setText(ui.switchContacts, shownContacts.length ? count(shownContacts.length) : "");
    ui.clear.hidden = !filtered;
    tick();
  }

  function newTile(bucket) {
    var tile = {div: el("button", "tile " + classOf(bucket))};
    tile.div.type = "button";
    tile.div.setAttribute("data-state", bucket);
    tile.div.setAttribute("aria-pressed", "false");
    tile.count = el("span", "tile-count", "0");
    tile.label = el("span", "tile-label", labelOf(bucket));
    tile.note = el("span", "tile-note");
    tile.div.appendChild(tile.count);
    tile.div.appendChild(tile.label);
    tile.div.appendChild(tile.note);
    tile.div.addEventListener("click", function () {
      setFilter("state", filter.state === bucket ? "" : bucket);
    });
    return tile;
  }

  function drawTiles(counts) {
    // the usual states always, any other while it has agents (or is the filter)
    var buckets = Object.keys(counts).concat(Object.keys(ALWAYS_SHOWN))
      .concat(filter.state && filter.state !== OVERDUE ? [filter.state] : [])
      .filter(function (b, i, all) { return all.indexOf(b) === i; })
      .sort(function (a, b) { return rankOf(a) - rankOf(b) || (a < b ? -1 : 1); });
    tiles.forEach(function (tile, bucket) {
      if (buckets.indexOf(bucket) < 0) { tile.div.remove(); tiles.delete(bucket); }
    });
    buckets.forEach(function (bucket, index) {
      var tile = tiles.get(bucket);
      if (tile === undefined) { tile = newTile(bucket); tiles.set(bucket, tile); }
      var n = counts[bucket] || 0;
      setText(tile.count, count(n));
      tile.pressed = filter.state === bucket || (filter.state === OVERDUE && bucket === "ACW");
      setAttr(tile.div, "aria-pressed", tile.pressed);
      tile.cls = "tile " + classOf(bucket) + (n ? "" : " zero") + (tile.pressed ? " chosen" : "");
      setClass(tile.div, tile.cls);
      if (ui.tiles.children[index] !== tile.div) ui.tiles.insertBefore(tile.div, ui.tiles.children[index] || null);
    });
  }

  function drawStateOptions(counts) {
    var select = ui.stateSelect;
    if (select.options.length === 1) {
      STATES.forEach(function (s) {
        select.appendChild(new Option(s[1], s[0]));
        if (s[0] === "ACW") select.appendChild(new Option("ACW past its deadline", OVERDUE));
      });
    }
    // a state the board has no name for (a tile of it, or the address) is listed too
    if (filter.state && !Array.from(select.options).some(function (o) { return o.value === filter.state; })) {
      select.appendChild(new Option(filter.state, filter.state));
    }
    for (var i = 1; i < select.options.length; i++) {
      var option = select.options[i], value = option.value;
      var n = value === OVERDUE ? shownOverdueCount() : counts[value] || 0;
      var label = (value === OVERDUE ? "ACW past its deadline" : labelOf(value)) + " (" + count(n) + ")";
      if (option.text !== label) option.text = label;
    }
    if (select.value !== filter.state) select.value = filter.state;
  }

  function shownOverdueCount() {
    var now = serverNow(), n = 0;
    for (var i = 0; i < faceted.length; i++) if (isOverdue(faceted[i], now)) n += 1;
    shownOverdue = n;
    return n;
  }

  function drawSkillOptions(skillCounts) {
    var select = ui.skillSelect;
    var skills = Object.keys(skillCounts);
    // the chosen skill stays listed while no open contact has it
    if (filter.skill && !(filter.skill in skillCounts)) skills.push(filter.skill);
    skills.sort(function (a, b) {
      var na = Number(a), nb = Number(b);
      if (isFinite(na) && isFinite(nb) && na !== nb) return na - nb;
      return a < b ? -1 : a > b ? 1 : 0;
    });
    var joined = skills.join("\n");
    if (joined !== skillsShown) {        // the options change only when the skills do
      skillsShown = joined;
      var options = [select.options[0]];
      skills.forEach(function (skill) { options.push(new Option(skill, skill)); });
      select.replaceChildren.apply(select, options);
    }
    for (var i = 1; i < select.options.length; i++) {
      var option = select.options[i];
      var label = option.value + " (" + count(skillCounts[option.value] || 0) + ")";
      if (option.text !== label) option.text = label;
    }
    if (select.value !== filter.skill) select.value = filter.skill;
  }

  // --- the filters --------------------------------------------------------------------
  function setFilter(name, value) {
    if (filter[name] === value) return;
    filter[name] = value;
    if (name === "query") {
      if (ui.search.value.trim().toLowerCase() !== value) ui.search.value = value;
    }
    filtersChanged();
  }

  function clearFilters() {
    filter.state = filter.skill = filter.query = "";
    ui.search.value = "";
    filtersChanged();
  }

  function filtersChanged() {
    keepFiltersInAddress();
    agentsTable.scroller.scrollTop = 0;     // a new list starts at its top
    contactsTable.scroller.scrollTop = 0;
    render();
  }

  function keepFiltersInAddress() {
    var params = new URLSearchParams(window.location.search);
    [["state", filter.state], ["skill", filter.skill], ["q", filter.query]].forEach(function (p) {
      if (p[1]) params.set(p[0], p[1]); else params.delete(p[0]);
    });
    var search = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
  }

  function readFiltersFromAddress() {
    var params = new URLSearchParams(window.location.search);
    filter.state = params.get("state") || "";
    filter.skill = params.get("skill") || "";
    filter.query = (params.get("q") || "").trim().toLowerCase();
    ui.search.value = params.get("q") || "";
  }

  function choosePanel(panel) {
    ui.grid.setAttribute("data-panel", panel);
    ui.switchButtons.forEach(function (button) {
      setAttr(button, "aria-pressed", button.getAttribute("data-panel") === panel);
    });
    relayout();   // a panel shown again has its size back: draw its rows
  }

  // --- drawing what is not a list -------------------------------------------------------
  function showConnection() {
    var state, text;
    if (tokenProblem !== null) { state = "auth"; text = "Bad token"; }
    else if (needsToken) { state = "auth"; text = "Needs token"; }
    else if (source === null) { state = "connecting"; text = "Connecting"; }
    else if (streamBroken || source.readyState !== window.EventSource.OPEN) { state = "reconnecting"; text = "Reconnecting"; }
    else { state = "live"; text = "Live"; }
    if (tokenProblem !== null || needsToken) {
      setText(ui.agentsEmpty, tokenProblem !== null ? tokenProblem :
        "This service's API needs its token: open this page as /#token=TOKEN.");
    } else if (!records.size) {
      setText(ui.agentsEmpty, ui.agentsEmptyText);
    }
    setClass(ui.conn, "conn conn-" + state);
    ui.conn.setAttribute("data-state", state);
    setText(ui.connText, text);
    ui.conn.title = tokenProblem !== null ? tokenProblem :
      needsToken ? "The API needs its token: open this page as /#token=TOKEN" :
      state === "live" ? "Receiving the change stream" : "Waiting for the service";
  }

  function addViolation(change, live) {
    var li = el("li", "violation sev-" + (change.severity === "error" ? "error" : "warning"));
    var head = el("div", "v-head");
    head.appendChild(el("span", "sev", change.severity === "error" ? "error" : "warning"));
    head.appendChild(el("span", "rule", str(change.rule, "?")));
    head.appendChild(el("span", "when", live ? clockText(serverNow()) : "earlier"));
    var where = el("div", "v-where");
    where.appendChild(el("span", "key", str(change.session, "?")));
    if (typeof change.contact_id === "string" && change.contact_id) {
      where.appendChild(el("span", "v-contact", "contact " + change.contact_id));
    }
    if (typeof change.event_index === "number") {
      where.appendChild(el("span", "v-event", "event " + change.event_index));
    }
    var message = el("div", "v-message", str(change.message, ""));
    message.title = message.textContent;
    li.appendChild(head);
    li.appendChild(where);
    li.appendChild(message);
    ui.violations.insertBefore(li, ui.violations.firstChild);
    while (ui.violations.children.length > VIOLATIONS_KEPT) ui.violations.lastChild.remove();
    violationCount += 1;
    ui.violationsEmpty.hidden = true;
    setText(ui.violationCount, violationCount > VIOLATIONS_KEPT
      ? "latest " + VIOLATIONS_KEPT + " of " + count(violationCount) : count(violationCount));
    setText(ui.switchViolations, count(violationCount));
  }

  function tick() {
    var now = serverNow();
    setText(ui.clock, clockText(now));
    setText(ui.skew, skewS === null ? "" : "skew " + (skewS >= 0.05 ? "+" : skewS <= -0.05 ? "−" : "") +
                    Math.abs(skewS).toFixed(1) + " s");
    agentsTable.tick(now);
    contactsTable.tick(now);
    // overdue is a matter of time: counted (among the agents the facets leave) each tick
    var before = shownOverdue, overdue = shownOverdueCount();
    var acw = tiles.get("ACW");
    if (acw !== undefined) {
      setText(acw.note, overdue ? count(overdue) + " overdue" : "");
      setClass(acw.div, acw.cls + (overdue ? " has-overdue" : ""));
    }
    if (filter.state === OVERDUE && overdue !== before) scheduleRender();
    var active = activeCount, open = openCount;
    var parts = [count(active) + (active === 1 ? " agent in session" : " agents in session"),
                 count(open) + (open === 1 ? " open contact" : " open contacts")];
    setText(ui.headline, parts.join(" · "));
  }

  // the layout changed (a resize, a rotation, another panel shown): the row height and
  // how many rows are in view may have changed
  function relayout() {
    [agentsTable, contactsTable].forEach(function (table) {
      table.measure();
      table.draw();
    });
  }

  function start() {
    ui.conn = document.getElementById("conn");
    ui.connText = document.getElementById("conn-text");
    ui.headline = document.getElementById("headline");
    ui.clock = document.getElementById("clock");
    ui.skew = document.getElementById("skew");
    ui.tiles = document.getElementById("tiles");
    ui.grid = document.getElementById("grid");
    ui.agentsEmpty = document.getElementById("agents-empty");
    ui.agentsEmptyText = ui.agentsEmpty.textContent;
    ui.agentCount = document.getElementById("agent-count");
    ui.contactsEmpty = document.getElementById("contacts-empty");
    ui.contactCount = document.getElementById("contact-count");
    ui.violations = document.getElementById("violations");
    ui.violationsEmpty = document.getElementById("violations-empty");
    ui.violationCount = document.getElementById("violation-count");
    ui.search = document.getElementById("search");
    ui.stateSelect = document.getElementById("filter-state");
    ui.skillSelect = document.getElementById("filter-skill");
    ui.clear = document.getElementById("filter-clear");
    ui.switchContacts = document.getElementById("switch-contacts");
    ui.switchViolations = document.getElementById("switch-violations");
    ui.switchButtons = Array.from(document.querySelectorAll(".switch button"));

    agentsTable = new VirtualTable(document.getElementById("agents-scroll"),
                                   document.getElementById("agents"),
                                   {make: newAgentRow, fill: fillAgentRow, tick: tickAgentRow});
    contactsTable = new VirtualTable(document.getElementById("contacts-scroll"),
                                     document.getElementById("contacts"),
                                     {make: newContactRow, fill: fillContactRow,
                                      tick: tickContactRow});

    readFiltersFromAddress();
    ui.search.addEventListener("input", function () {
      setFilter("query", ui.search.value.trim().toLowerCase());
    });
    ui.stateSelect.addEventListener("change", function () { setFilter("state", ui.stateSelect.value); });
    ui.skillSelect.addEventListener("change", function () { setFilter("skill", ui.skillSelect.value); });
    ui.clear.addEventListener("click", clearFilters);
    ui.switchButtons.forEach(function (button) {
      button.addEventListener("click", function () { choosePanel(button.getAttribute("data-panel")); });
    });
    var observer = new window.ResizeObserver(function () { relayout(); });
    observer.observe(agentsTable.scroller);
    observer.observe(contactsTable.scroller);

    takeToken();
    showConnection();
    relayout();
    render();
    window.setInterval(tick, 1000);
    refreshAll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
