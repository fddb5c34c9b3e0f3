/* The session_fsm wallboard: live agent states, open contacts and violations.
 *
 * How it stays live. It loads every snapshot (GET api/sessions), then listens to the
 * change stream (EventSource on api/changes, from that snapshot's last_change_id). A
 * change only says which session changed: the session is marked dirty, and every
 * REFETCH_MS the dirty ones are fetched again (api/sessions?key=A&key=B) and their rows
 * replaced, so what is shown is always the service's own snapshot, never a second
 * engine in the browser. The stream is opened BACKFILL_CHANGES before that snapshot, and
 * those older changes only fill the violations list (the snapshot already has them). A "reset" event (the service lost this client's place), or the
 * stream coming back after an error (the service may have restarted), re-reads every
 * snapshot. EventSource reconnects by itself with Last-Event-ID; if the browser gives
 * up (an HTTP error), the script opens a new one from the last id it saw.
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
  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 15000;
  var COOKIE = "session_fsm_token";

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
  var sessions = new Map();      // key -> snapshot entry, as the service sent it
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

  var ui = {};
  var agentRows = new Map();     // key -> row (elements and the entry they show)
  var tiles = new Map();         // bucket -> tile elements
  var contactAges = [];          // [cell, started ms] of the open contacts' age cells
  var violationCount = 0;

  // --- small helpers -----------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function setText(node, text) {
    text = String(text);
    if (node.textContent !== text) node.textContent = text;
  }
  function setClass(node, cls) {
    if (node.className !== cls) node.className = cls;
  }
  function str(value, fallback) {
    return typeof value === "string" && value !== "" ? value : fallback;
  }
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
  function acwDeadline(entry) {
    var a = entry.agent_state;
    if (!a || !a.is_acw || bucketOf(entry) === "ended") return null;
    return parseTime(a.acw_deadline);
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
    sessions.set(entry.key, entry);
    appliedSeq.set(entry.key, seq);
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
      sessions.forEach(function (entry, key) {   // gone from the service (a restart without its state)
        if (!present.has(key) && appliedSeq.get(key) < seq) { sessions.delete(key); appliedSeq.delete(key); }
      });
      noteClock(doc, seq);
      fullRetryMs = RETRY_MIN_MS;
      render();
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
      render();
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

  // --- drawing -----------------------------------------------------------------------
  function showConnection() {
    var state, text;
    if (tokenProblem !== null) { state = "auth"; text = "Bad token"; }
    else if (needsToken) { state = "auth"; text = "Needs token"; }
    else if (source === null) { state = "connecting"; text = "Connecting"; }
    else if (streamBroken || source.readyState !== window.EventSource.OPEN) { state = "reconnecting"; text = "Reconnecting"; }
    else { state = "live"; text = "Live"; }
    setText(ui.agentsEmpty, tokenProblem !== null ? tokenProblem :
      needsToken ? "This service's API needs its token: open this page as /#token=TOKEN." :
      ui.agentsEmptyText);
    setClass(ui.conn, "conn conn-" + state);
    ui.conn.setAttribute("data-state", state);
    setText(ui.connText, text);
    ui.conn.title = tokenProblem !== null ? tokenProblem :
      needsToken ? "The API needs its token: open this page as /#token=TOKEN" :
      state === "live" ? "Receiving the change stream" : "Waiting for the service";
  }

  function compareEntries(a, b) {
    var ra = rankOf(bucketOf(a)), rb = rankOf(bucketOf(b));
    if (ra !== rb) return ra - rb;
    var sa = a.agent_state ? parseTime(a.agent_state.since) : null;
    var sb = b.agent_state ? parseTime(b.agent_state.since) : null;
    if (sa !== sb) {
      if (sa === null) return 1;
      if (sb === null) return -1;
      return sa - sb;                       // longest in state first
    }
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  }

  function newAgentRow(key) {
    var row = {tr: el("tr"), entry: null};
    row.tr.setAttribute("data-key", key);
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
    row.contacts = el("td", "chips");
    row.violations = el("td", "num viol");
    [row.name, row.agentId, row.stateCell, row.detail, row.time, row.contacts, row.violations]
      .forEach(function (td) { row.tr.appendChild(td); });
    return row;
  }

  function fillAgentRow(row, entry) {
    row.entry = entry;
    var bucket = bucketOf(entry);
    var info = entry.session || {};
    var a = entry.agent_state;
    row.bucket = bucket;
    row.since = a ? parseTime(a.since) : null;
    row.deadline = acwDeadline(entry);
    setText(row.name, entry.key);
    row.name.title = entry.key;
    setText(row.agentId, str(info.agent_id, "—"));
    setClass(row.pill, "pill " + classOf(bucket));
    setText(row.pill, labelOf(bucket));
    if (bucket === "ended") {
      setText(row.reason, str(info.end_message, str(info.end_reason, "")));
    } else if (a) {
      var reason = str(a.out_reason, "");
      if (a.is_acw && a.state !== "Unavailable") reason = a.state + (reason ? " · " + reason : "");
      setText(row.reason, reason);
    } else {
      setText(row.reason, "");
    }
    row.detail.title = row.reason.textContent;
    var chips = [];
    var contacts = Array.isArray(entry.contacts) ? entry.contacts : [];
    contacts.slice(0, 2).forEach(function (c) {
      var chip = el("span", "chip" + (isLinked(c, entry) ? " linked" : ""),
                    (SHORT_MEDIA[c.media] || str(c.media, "?")) + " " + str(c.contact_id, "?"));
      chip.title = (isLinked(c, entry) ? "linked dialer call · " : "") + str(c.status, "");
      chips.push(chip);
    });
    if (contacts.length > 2) chips.push(el("span", "chip more", "+" + (contacts.length - 2)));
    row.contacts.replaceChildren.apply(row.contacts, chips);
    var count = typeof entry.violations === "number" ? entry.violations : 0;
    setText(row.violations, count ? String(count) : "");
    tickAgentRow(row, serverNow());
  }

  function tickAgentRow(row, now) {
    var ended = row.bucket === "ended";
    setText(row.time, ended || row.since === null ? "—" : duration(now - row.since));
    var overdue = row.deadline !== null && row.deadline < now;
    if (row.deadline !== null) {
      setText(row.badge, overdue ? "overdue " + duration(now - row.deadline)
                                 : duration(row.deadline - now) + " left");
      setClass(row.badge, overdue ? "badge overdue" : "badge remaining");
    } else {
      setText(row.badge, "");
      setClass(row.badge, "badge");
    }
    setClass(row.tr, "agent " + classOf(row.bucket) + (overdue ? " acw-overdue" : "") +
                     (ended ? " ended" : ""));
    return overdue;
  }

  function newTile(bucket) {
    var tile = {div: el("div", "tile " + classOf(bucket))};
    tile.div.setAttribute("data-state", bucket);
    tile.count = el("span", "tile-count", "0");
    tile.label = el("span", "tile-label", labelOf(bucket));
    tile.note = el("span", "tile-note");
    tile.div.appendChild(tile.count);
    tile.div.appendChild(tile.label);
    tile.div.appendChild(tile.note);
    return tile;
  }

  function render() {
    var entries = Array.from(sessions.values()).sort(compareEntries);

    // agents table: one row per session, reused, in sorted order
    agentRows.forEach(function (row, key) {
      if (!sessions.has(key)) { row.tr.remove(); agentRows.delete(key); }
    });
    var body = ui.agentsBody;
    var counts = {};
    entries.forEach(function (entry, index) {
      var row = agentRows.get(entry.key);
      if (row === undefined) { row = newAgentRow(entry.key); agentRows.set(entry.key, row); }
      if (row.entry !== entry) fillAgentRow(row, entry);
      if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] || null);
      counts[row.bucket] = (counts[row.bucket] || 0) + 1;
    });
    ui.agentsEmpty.hidden = entries.length > 0;

    // tiles: the usual states always, any other while it has agents
    var buckets = Object.keys(counts).concat(Object.keys(ALWAYS_SHOWN))
      .filter(function (b, i, all) { return all.indexOf(b) === i; })
      .sort(function (a, b) { return rankOf(a) - rankOf(b) || (a < b ? -1 : 1); });
    tiles.forEach(function (tile, bucket) {
      if (buckets.indexOf(bucket) < 0) { tile.div.remove(); tiles.delete(bucket); }
    });
    buckets.forEach(function (bucket, index) {
      var tile = tiles.get(bucket);
      if (tile === undefined) { tile = newTile(bucket); tiles.set(bucket, tile); }
      setText(tile.count, counts[bucket] || 0);
      setClass(tile.div, "tile " + classOf(bucket) + (counts[bucket] ? "" : " zero"));
      if (ui.tiles.children[index] !== tile.div) ui.tiles.insertBefore(tile.div, ui.tiles.children[index] || null);
    });

    // open contacts, oldest first
    var open = [];
    entries.forEach(function (entry) {
      (Array.isArray(entry.contacts) ? entry.contacts : []).forEach(function (c) {
        open.push({contact: c, entry: entry, started: parseTime(c.started)});
      });
    });
    open.sort(function (a, b) {
      if (a.started === b.started) return 0;
      if (a.started === null) return 1;
      if (b.started === null) return -1;
      return a.started - b.started;
    });
    contactAges = [];
    var rows = open.map(function (item) {
      var c = item.contact, entry = item.entry, linked = isLinked(c, entry);
      var tr = el("tr", "contact" + (linked ? " linked" : ""));
      tr.setAttribute("data-contact", str(c.contact_id, ""));
      tr.setAttribute("data-session", entry.key);
      var idCell = el("td", "contact-id", str(c.contact_id, "?"));
      idCell.title = idCell.textContent;
      var media = mediaLabel(c.media);
      var direction = c.is_inbound === true ? " in" : c.is_inbound === false ? " out" : "";
      var status = el("td", "status");
      status.appendChild(el("span", "cstatus cs-" + str(c.status, "unknown").toLowerCase(), str(c.status, "?")));
      var age = el("td", "num age");
      contactAges.push([age, item.started]);
      var agent = el("td", "key", entry.key);
      agent.title = entry.key;
      var mediaCell = el("td", "media", media + direction);
      if (linked) {
        mediaCell.appendChild(el("span", "link-tag", "linked"));
        mediaCell.title = "The dialer call linked to the agent's voice path";
      }
      [idCell, mediaCell, status, el("td", "skill", str(c.skill, "—")), agent, age].forEach(function (td) { tr.appendChild(td); });
      return tr;
    });
    ui.contactsBody.replaceChildren.apply(ui.contactsBody, rows);
    ui.contactsEmpty.hidden = open.length > 0;
    setText(ui.contactCount, open.length ? String(open.length) : "");
    setText(ui.agentCount, entries.length ? String(entries.length) : "");
    tick();
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
      ? "latest " + VIOLATIONS_KEPT + " of " + violationCount : String(violationCount));
  }

  function tick() {
    var now = serverNow();
    setText(ui.clock, clockText(now));
    setText(ui.skew, skewS === null ? "" : "skew " + (skewS >= 0.05 ? "+" : skewS <= -0.05 ? "−" : "") +
                    Math.abs(skewS).toFixed(1) + " s");
    var overdue = 0, active = 0;
    agentRows.forEach(function (row) {
      if (tickAgentRow(row, now)) overdue += 1;
      if (row.bucket !== "ended") active += 1;
    });
    contactAges.forEach(function (pair) {
      setText(pair[0], pair[1] === null ? "—" : duration(now - pair[1]));
    });
    var acw = tiles.get("ACW");
    if (acw !== undefined) {
      setText(acw.note, overdue ? overdue + " overdue" : "");
      setClass(acw.div, "tile " + classOf("ACW") + (acw.count.textContent === "0" ? " zero" : "") +
                        (overdue ? " has-overdue" : ""));
    }
    var parts = [active + (active === 1 ? " agent in session" : " agents in session"),
                 contactAges.length + (contactAges.length === 1 ? " open contact" : " open contacts")];
    setText(ui.headline, parts.join(" · "));
  }

  function start() {
    ui.conn = document.getElementById("conn");
    ui.connText = document.getElementById("conn-text");
    ui.headline = document.getElementById("headline");
    ui.clock = document.getElementById("clock");
    ui.skew = document.getElementById("skew");
    ui.tiles = document.getElementById("tiles");
    ui.agentsBody = document.querySelector("#agents tbody");
    ui.agentsEmpty = document.getElementById("agents-empty");
    ui.agentsEmptyText = ui.agentsEmpty.textContent;
    ui.agentCount = document.getElementById("agent-count");
    ui.contactsBody = document.querySelector("#contacts tbody");
    ui.contactsEmpty = document.getElementById("contacts-empty");
    ui.contactCount = document.getElementById("contact-count");
    ui.violations = document.getElementById("violations");
    ui.violationsEmpty = document.getElementById("violations-empty");
    ui.violationCount = document.getElementById("violation-count");
    takeToken();
    showConnection();
    render();
    window.setInterval(tick, 1000);
    refreshAll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
