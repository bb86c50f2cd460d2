// One live call in a staff member's browser (/staff/live/<call_id>/): the conversation as it
// happens, and Listen, Whisper, Take over, Hand back and End call over ws/staff/calls/<id>
// (contract section 8). The server says what the call is doing (`state`) and refuses what
// this person may not do; the buttons only follow it.
//
//   call.js    the socket, the buttons, the conversation, `window.liveCallDebug` for tests
//   audio.js   a player per source with its level, and the microphone while taking over

import { withIds } from "../voice/ids.js";
import { ListeningAudio, Microphone, SOURCES, meterValue } from "./audio.js";

const RECONNECT_MAX_MS = 8000;
const METER_MS = 100;
const DEBUG_EVENTS_KEPT = 300;

const root = document.getElementById("live-call");
const names = JSON.parse(document.getElementById("staff-names").textContent);
const me = root.dataset.me;
const startedAt = Date.parse(root.dataset.started);
const customerName = root.dataset.caller || "Customer";

const ui = {
  duration: root.querySelector("[data-duration]"),
  mode: root.querySelector("[data-mode]"),
  staff: root.querySelector("[data-staff]"),
  alert: root.querySelector("[data-alert]"),
  info: root.querySelector("[data-info]"),
  listen: root.querySelector("[data-listen]"),
  meters: root.querySelector("[data-meters]"),
  whisper: root.querySelector("[data-whisper]"),
  whisperHint: root.querySelector("[data-whisper-hint]"),
  takeOver: root.querySelector("[data-take-over]"),
  takeHint: root.querySelector("[data-take-hint]"),
  handBack: root.querySelector("[data-hand-back]"),
  handBackLabel: root.querySelector("[data-hand-back] label"),
  end: root.querySelector("[data-end]"),
  endForm: root.querySelector("[data-end-form]"),
  endHint: root.querySelector("[data-end-hint]"),
  conversation: root.querySelector("ol.conversation"),
};

const debug = {
  connected: false,
  state: null,
  ended: null,
  closeCode: null,
  events: [],
  errors: [],
  listening: false,
  mic: { framesSent: 0, bytesSent: 0, level: 0 },
  players: {},
  recent: (source) => (listening ? listening.players[source].recentSamples() : []),
};
window.liveCallDebug = debug;

let socket = null;
let reconnectDelay = 500;
let state = null;
let ended = false;
let listening = null; // ListeningAudio while listening
let listenRefused = false; // the call had no place for another listener (too_many_listeners)
let microphone = null; // Microphone while holding (or about to)
let microphoneOn = false; // `microphone` is open and its frames go to the call
// The take-over to ask for once the socket is back: asked while it was down, or asked on one
// that closed unanswered.
let takeOverPending = false;
// The take-over was asked of the server and not answered yet: an error now may be its refusal.
// Before (the microphone still opening) an error is about something else, a whisper say.
let takeOverAsked = false;

const who = (username) => names[username] || username;
// The same, to the person reading: "You" for themselves.
const whoToMe = (username) => (username === me ? "You" : who(username));
// m:ss, h:mm:ss from an hour: as the server painted it (support/staff/labels.py mmss).
const mmss = (seconds) => {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
};
const now = () => mmss((Date.now() - startedAt) / 1000);

const RECONNECTING = "Connection lost; reconnecting…";
// Closed for good (4403): the server cannot say which, as a session that ended no longer names
// its user. "Ask a support lead" alone sent someone merely signed out to the wrong person.
const REFUSED_FOR_GOOD = "You were signed out, or may no longer watch live calls: this page no longer follows the call.";
// Why the microphone could not be opened (voice/audio.js MicrophoneError's kinds), and what
// to do about it: "allow it" is no help to someone with none plugged in.
const MICROPHONE_WORDS = {
  denied: "Your browser was not allowed to use the microphone. Allow it for this site (the icon in the address bar), then try again.",
  missing: "No microphone was found. Connect one (or a headset), then try again.",
  busy: "The microphone is in use by another app or could not be started. Close other apps using it, then try again.",
  insecure: "The microphone only works on a secure (https) page.",
  unsupported: "This browser cannot capture the microphone. Try a recent Chrome, Edge, Firefox or Safari.",
};
// What the alert shown says of the call, for as long as `state`s bear it out (null: until
// another notice replaces it): "Kavya holds this call" goes once she no longer does.
let alertHolds = null;

// Not `hidden` when empty: a live region must be in the accessibility tree before its news, or
// a screen reader may not say it. Empty, it is only out of sight.
function show(kind, text, link) {
  const box = kind === "error" ? ui.alert : ui.info;
  const other = kind === "error" ? ui.info : ui.alert;
  alertHolds = null;
  other.replaceChildren();
  other.classList.add("visually-hidden");
  box.replaceChildren(text);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    box.append(" ", a);
  }
  box.classList.toggle("visually-hidden", !text);
}

/** Takes the notice of `kind` away if it says `text` (any, without `text`). */
function unsay(kind, text) {
  const box = kind === "error" ? ui.alert : ui.info;
  if (text === undefined || box.textContent === text) {
    box.replaceChildren();
    box.classList.add("visually-hidden");
    if (kind === "error") alertHolds = null;
  }
}

// --- the conversation --------------------------------------------------------------------------

const pending = {}; // role -> the <li> of an utterance still being captioned
// What the page painted was read from the call's record as of `since`; once the socket is
// open the call sends what was added after it (`backlog`), which may overlap what the socket
// itself brought meanwhile. `seen` names the lines the socket brought, `firstLive` is the first
// line added since the socket last opened: the backlog's lines go before it.
const seen = new Set();
let firstLive = null;

function seenKey(event) {
  switch (event.type) {
    case "transcript":
      return event.final ? `t ${event.role} ${event.text}` : null;
    case "tool":
      return event.line ? `x ${event.name} ${JSON.stringify(event.args)}` : null;
    case "whisper":
      return `w ${event.staff} ${event.text}`;
  }
  return null;
}

function line(className, speaker, build, at) {
  const empty = ui.conversation.querySelector("li.empty");
  if (empty) empty.remove();
  const li = document.createElement("li");
  li.className = className;
  const whoSpan = document.createElement("span");
  whoSpan.className = "who";
  whoSpan.textContent = speaker;
  const time = document.createElement("time");
  time.textContent = at ? mmss((Date.parse(at) - startedAt) / 1000) : now();
  li.append(whoSpan, time);
  build(li);
  ui.conversation.append(li);
  if (!at) firstLive ??= li; // a live line (the backlog's carry their time)
  return li;
}

/** Lines the page missed between its painting and its socket: before the live ones. */
function onBacklog(events) {
  const anchor = firstLive && firstLive.isConnected ? firstLive : null;
  for (const event of events) {
    const key = seenKey(event);
    if (key === null || seen.has(key)) continue;
    seen.add(key);
    let li = null;
    if (event.type === "transcript") {
      const speaker = event.role === "user" ? "customer" : "agent";
      li = line(`turn ${speaker}`, speaker === "customer" ? customerName : "Agent", (item) => paragraph(item, event.text), event.at);
    } else if (event.type === "tool") {
      li = toolLine(event);
    } else if (event.type === "whisper") {
      li = whisperLine(event);
    }
    if (li) ui.conversation.insertBefore(li, anchor);
  }
}

function paragraph(li, text) {
  const p = document.createElement("p");
  p.append(...withIds(text));
  li.append(p);
  return p;
}

function transcript({ role, text, final }) {
  const speaker = role === "user" ? "customer" : "agent";
  let li = pending[role];
  if (!li) {
    li = line(`turn ${speaker}`, speaker === "customer" ? customerName : "Agent", (item) => paragraph(item, ""));
    // A caption being written changes many times a second: hidden from screen readers, which
    // hear it once, final, as a new line of the log.
    li.setAttribute("aria-hidden", "true");
    pending[role] = li;
  }
  li.querySelector("p").replaceChildren(...withIds(text));
  li.classList.toggle("partial", !final);
  if (final) {
    delete pending[role];
    const said = li.cloneNode(true);
    said.removeAttribute("aria-hidden");
    li.replaceWith(said);
    if (firstLive === li) firstLive = said;
  }
}

function whisperLine(event) {
  return line("whisper", "Whisper", (li) => paragraph(li, `${whoToMe(event.staff)}: ${event.text}`), event.at);
}

function toolLine(event) {
  return line(`tool ${event.ok ? "ok" : "failed"}`, "Agent", (li) => {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    if (!event.ok) {
      const hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = "Refused or failed: ";
      summary.append(hidden);
    }
    summary.append(...withIds(event.line));
    const raw = document.createElement("dl");
    raw.className = "raw";
    const rows = [
      ["tool", `${event.raw.tool} · ${event.raw.took}`, "code"],
      ["arguments", event.raw.arguments, "pre"],
      ["result", event.raw.result, "pre"],
    ];
    for (const [term, value, tag] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      const inner = document.createElement(tag);
      inner.textContent = value;
      dd.append(inner);
      raw.append(dt, dd);
    }
    details.append(summary, raw);
    li.append(details);
  }, event.at);
}

/** A hand-back as the call's record words it: who, and their note to the agent. */
function handedBack(event) {
  const by = event.by || event.staff;
  const name = by ? whoToMe(by) : "";
  const said = event.note ? `: ${event.note}` : ".";
  return name ? `${name} handed back to the agent${said}` : `Handed back to the agent${said}`;
}

function note(text, className = "note") {
  line(className, "", (li) => paragraph(li, text));
}

// --- what the call is doing -------------------------------------------------------------------

// The escalations this page saw a colleague join (its briefing, if it was painted with one,
// says so too): one that escalated after the page opened has no briefing to mark.
const joinedTickets = new Set();

/** What the agent is doing, in the words the live calls page has for it (the server words
 *  both: livestaff/presenting.py with_now): waiting for a colleague while the briefing says
 *  the customer is, whatever the agent does meanwhile. */
function nowText(s) {
  const briefing = root.querySelector("[data-briefing]");
  const joined = joinedTickets.has(s.escalation) || (briefing && briefing.classList.contains("joined"));
  return s.escalation && !joined ? s.now_waiting : s.now;
}

// Whether this page holds the call: the holder is this person, and the call is not held from
// another tab of theirs (no page at all: a reload, or a callback they dialled, counts as here).
function heldHere(s) {
  return Boolean(s) && s.staff === me && s.held_from !== "another_page";
}

// Whether this page talks from here, for the call to hold it from this page's next socket: the
// call said it is held from here, or it is held from no page just now (its page moving) and the
// microphone here is on. Another tab of theirs sees it held from no page while the talking tab
// is away: back from a blip of its own, it must not take the call from the tab talking again.
function heldFromHere(s) {
  return heldHere(s) && s.mode === "human" && (s.held_from === "this_page" || microphone !== null);
}

function onState(next) {
  const before = state;
  state = next;
  debug.state = next;
  if (alertHolds && !alertHolds(next)) unsay("error");
  if (heldHere(next)) takeOverAsked = false; // answered: held
  // Refused a place among the listeners (livestaff/link.py), then taking the call over: the
  // call makes room for the page it is held from, whose holder must hear the customer.
  if (listenRefused && next.held_from === "this_page") {
    listenRefused = false;
    setListening(true);
  }
  const holder = next.staff;
  const mine = holder === me;
  if (next.mode === "human" && next.escalation) joinedTickets.add(next.escalation);
  paintNow();
  paintStaff();
  root.dataset.mode = next.mode;
  const briefing = root.querySelector("[data-briefing]");
  if (next.mode === "human") window.StaffLive.markJoined(briefing, holder && whoToMe(holder));
  window.StaffLive.markTransferring(briefing, next.doing);
  // The call no longer names its ticket: resolved meanwhile, nobody is to join for it.
  if (briefing) briefing.classList.toggle("resolved", !next.escalation && !briefing.classList.contains("joined"));
  // No agent configured on the call (no GEMINI_API_KEY): no agent's level to show.
  for (const part of ui.meters.querySelectorAll("[data-meter=A], [data-meter-label=A]")) part.hidden = next.agent === false;
  ui.meters.querySelector("[data-meter-label=H]").textContent = mine ? "You" : "Colleague";
  ui.meters.querySelector("[data-meter=H]").setAttribute("aria-label", mine ? "Your level" : "Colleague's level");
  root.dataset.holder = holder || "";
  setControls();
  // Handed back, or taken over from another tab of theirs: this page's microphone goes off.
  if (heldHere(before) && !heldHere(next)) stopMicrophone();
}

/** The "Now" line. Held from this page, the customer hears this person only once the
 *  microphone here is on: until then it says she is waiting, not that they talk. */
function paintNow() {
  if (!state || ended) return;
  const holder = state.staff;
  if (state.mode !== "human") {
    ui.mode.textContent = nowText(state);
  } else if (holder !== me) {
    ui.mode.textContent = `${who(holder)} is talking to ${customerName}`;
  } else if (!heldHere(state)) {
    ui.mode.textContent = `You are talking to ${customerName} from another tab`;
  } else if (microphoneOn) {
    ui.mode.textContent = `You are talking to ${customerName}`;
  } else {
    ui.mode.textContent = `${customerName} is waiting: your microphone is ${microphone ? "starting…" : "off"}`;
  }
}

/** "Staff on the call". The call names each person listening once, whatever their pages:
 *  this person listed while this page does not listen listens from another page of theirs. */
function paintStaff() {
  if (!state || ended) return;
  const holder = state.staff;
  const parts = [];
  if (holder) parts.push(`Held by ${holder === me ? "you" : who(holder)}`);
  if (state.listeners && state.listeners.length) {
    const you = listening ? "you" : "you (in another tab)";
    parts.push(`Listening: ${state.listeners.map((u) => (u === me ? you : who(u))).join(", ")}`);
  }
  ui.staff.textContent = parts.join(" · ") || "Nobody";
  ui.staff.classList.toggle("quiet", !parts.length);
}

// --- the focus --------------------------------------------------------------------------------

// A control hidden or disabled while it has the focus drops the focus to <body>: it goes to
// the control that takes its place (Take over and the hand-back note, in turn; the call's
// record once it ended), at once or when that one comes (a take-over waits for the server).
let focusParked = false;
const gone = (element) => element.disabled || element.closest("[hidden]") !== null;

function focusTaker() {
  if (ended) return ui.info.querySelector("a");
  if (ui.handBack && !ui.handBack.hidden) return ui.handBack.querySelector("textarea");
  if (ui.takeOver && !gone(ui.takeOver)) return ui.takeOver;
  return null;
}

/** After a change to the controls: `focused` had the focus before it. */
function keepFocus(focused) {
  if (focused && root.contains(focused) && gone(focused)) focusParked = true;
  if (!focusParked) return;
  const now = document.activeElement;
  if (now && now !== document.body && !gone(now)) {
    focusParked = false; // the person moved on meanwhile
    return;
  }
  const taker = focusTaker();
  if (taker) {
    taker.focus();
    focusParked = false;
  }
}

function setControls() {
  const focused = document.activeElement;
  const live = debug.connected && !ended;
  const holder = state ? state.staff : null;
  const mine = holder === me;
  const here = heldHere(state);
  ui.listen.disabled = !live;
  // No agent configured (no GEMINI_API_KEY): a callback a colleague placed stays with them,
  // with nobody to whisper to or hand back to (livestaff/on_call.py NO_AGENT_HAND_BACK).
  const agent = !state || state.agent !== false;
  for (const control of ui.whisper.querySelectorAll("textarea, button")) control.disabled = !live || !agent;
  // While a person holds the call the agent is off it: a whisper waits for the hand-back.
  ui.whisperHint.textContent = !agent ? "(no agent is configured on this call: nobody reads a whisper)"
    : !holder ? "(the customer does not hear it)"
    : `(the customer does not hear it; the agent reads it when ${mine ? "you hand" : `${who(holder)} hands`} the call back)`;
  if (ui.takeOver) {
    // Holding a call with no microphone (a callback this person dialled, or a reloaded page):
    // the same button starts it, inside the click the browser needs for audio.
    // Held from another tab of theirs: this one can take the call (and the microphone) over.
    ui.takeOver.textContent = here ? "Start my microphone" : mine ? "Take over here" : "Take over";
    ui.takeOver.hidden = here && microphone !== null;
    // A phone caller Twilio is putting through to the escalation line cannot be called back:
    // the call refuses a take-over or an end until that is over (or has failed), saying why
    // in the words the page has for the hint (livestaff/protocol.py TRANSFERRING_MESSAGE).
    const transferring = Boolean(state) && state.doing === "transferring";
    ui.takeOver.disabled = !live || (Boolean(holder) && !mine) || microphone !== null || transferring;
    if (transferring) ui.takeHint.textContent = ui.takeHint.dataset.transferring;
    else if (holder && !mine) ui.takeHint.textContent = `${who(holder)} holds this call.`;
    else if (mine && !here) ui.takeHint.textContent = "You talk from another tab; take over here to talk from this one.";
    else if (mine) ui.takeHint.textContent = microphone ? "" : "You hold this call: start your microphone to talk.";
    else ui.takeHint.textContent = "The agent stops; the customer hears you.";
    // A colleague who cannot carry on (gone from their desk, say) can be rescued: anyone
    // who may take over may hand their call back to the agent.
    ui.handBack.hidden = !(live && holder && agent);
    ui.handBackLabel.textContent = mine ? "Note for the agent when you hand back"
      : `If ${who(holder)} cannot carry on, hand the call back to the agent with a note`;
    ui.handBack.querySelector("button").textContent = mine ? "Hand back" : `Hand back for ${who(holder)}`;
    ui.handBack.querySelector("textarea").placeholder = mine ? "e.g. Refunded ₹200 as goodwill; confirm and close"
      : `e.g. ${who(holder)} was called away; offer a callback`;
    ui.endForm.querySelector("button").disabled = !live || transferring;
    // Refused alike; said why in fewer words than the hint above, which says it in full.
    ui.endHint.hidden = !transferring;
    ui.end.hidden = !live;
  }
  keepFocus(focused);
}

// --- listening ---------------------------------------------------------------------------------

// `tell`: say so to the server (not when it refused this page a place among the listeners).
function setListening(on, { tell = true } = {}) {
  if (on && !listening) {
    const started = new ListeningAudio(root.dataset.playerWorklet);
    listening = started;
    // Stopped before its players were ready (Stop listening at once, the call ended): the
    // closed contexts refuse them, which is no fault to report.
    started.ready.catch((error) => {
      if (listening === started) show("error", `Your browser could not play the call's audio (${error.message}).`);
    });
    for (const [source, player] of Object.entries(listening.players)) debug.players[source] = player.stats;
    send({ type: "listen" });
  } else if (!on && listening) {
    if (tell) send({ type: "unlisten" });
    listening.close();
    listening = null;
  }
  debug.listening = Boolean(listening);
  // Its name says what it does ("Stop listening"): aria-pressed as well would read it "pressed".
  ui.listen.classList.toggle("is-active", Boolean(listening));
  ui.listen.textContent = listening ? "Stop listening" : "Listen in";
  ui.meters.hidden = !listening;
  // Listening from here too: "you". Stopped, the call's next state says whether another page
  // of theirs still listens (it follows every unlisten).
  if (listening) paintStaff();
}

function paintMeters() {
  for (const meter of ui.meters.querySelectorAll("[data-meter]")) {
    const player = listening && listening.players[meter.dataset.meter];
    const value = player ? meterValue(player.level) : 0;
    if (player) player.level *= 0.6; // falls back when the source goes quiet
    meter.querySelector(".meter-fill").style.transform = `scaleX(${value})`;
    meter.setAttribute("aria-valuenow", String(Math.round(value * 100)));
  }
}

// --- taking over ------------------------------------------------------------------------------

async function takeOver() {
  setListening(true); // the one holding the call hears the customer
  const opening = new Microphone(root.dataset.micWorklet, root.dataset.playerWorklet);
  microphone = opening;
  setControls();
  paintNow();
  // Called off while the browser opens the microphone (the call ended, was handed back, or
  // this page may no longer take over): it is released once open, and nothing is asked.
  const calledOff = () => microphone !== opening;
  try {
    await opening.start((pcm, level) => {
      debug.mic.level = level;
      // The call does not send the holder's own voice back: their meter shows the microphone.
      const own = listening && listening.players.H;
      if (own) own.level = Math.max(own.level, level);
      if (!heldHere(state) || !socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(pcm);
      debug.mic.framesSent += 1;
      debug.mic.bytesSent += pcm.byteLength;
    });
  } catch (error) {
    if (calledOff()) return;
    stopMicrophone();
    show("error", MICROPHONE_WORDS[error.kind] || `Your microphone could not be opened (${error.message}).`);
    return;
  }
  if (calledOff()) return;
  microphoneOn = true;
  paintNow();
  // Also when the call is theirs already (a reload, another tab): it is held from here now.
  // The socket may be down this moment (a blip while the microphone opened): then it is sent
  // as the socket is back.
  askToTakeOver();
}

function askToTakeOver() {
  takeOverPending = !send({ type: "take_over" });
  takeOverAsked = !takeOverPending;
}

/** The socket closed before the take-over asked on it was answered: it may have gone as the
 *  socket's server did (sent before the page saw the close), so it is asked again once back.
 *  Asked again when it did arrive, it is no second take-over: the call has it held from the
 *  new socket (livestaff/on_call.py, "theirs already"). */
function takeOverUnanswered() {
  if (!takeOverAsked || !microphone || heldHere(state)) return;
  takeOverAsked = false;
  takeOverPending = true;
}

function stopMicrophone() {
  if (microphone) microphone.close();
  microphone = null;
  microphoneOn = false;
  takeOverPending = false;
  takeOverAsked = false;
  setControls();
  paintNow();
}

// --- the socket -------------------------------------------------------------------------------

function send(message) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(message));
  return true;
}

function onEvent(event) {
  debug.events.push(event);
  if (debug.events.length > DEBUG_EVENTS_KEPT) debug.events.shift();
  const key = seenKey(event);
  if (key !== null) seen.add(key);
  switch (event.type) {
    case "backlog":
      onBacklog(event.events || []);
      break;
    case "state":
      onState(event);
      break;
    case "transcript":
      transcript(event);
      break;
    case "tool":
      if (event.line) toolLine(event);
      break;
    case "whisper":
      whisperLine(event);
      break;
    case "agent_changed":
      // `name` is what the customer hears (a first name); colleagues know them by `by`'s name.
      if (event.mode === "human") note(`${event.by ? whoToMe(event.by) : event.name} took over the call.`);
      else note(handedBack(event));
      break;
    case "escalated":
      note(`The agent escalated: ticket ${event.ticket_id}. The customer is waiting for a colleague.`);
      break;
    case "error":
      debug.errors.push(event);
      // A take-over refused (someone holds the call, or it is moving): the microphone goes off.
      // (Not for a listen refused: the call makes room for the page it is held from.)
      if (microphone && takeOverAsked && !heldHere(state) && event.code !== "too_many_listeners") stopMicrophone();
      if (event.code === "taken") {
        show("error", `${who(event.staff)} holds this call: you can listen and whisper meanwhile.`);
        alertHolds = (s) => s.staff === event.staff;
      } else {
        // The call has no place for another listener: this page does not listen after all
        // (until the call is held from here: onState).
        if (event.code === "too_many_listeners") {
          setListening(false, { tell: false });
          listenRefused = true;
        }
        show("error", event.message);
      }
      break;
    case "ended":
      callEnded(event.reason);
      break;
  }
}

function callEnded(reason) {
  if (ended) return;
  const focused = document.activeElement;
  ended = true;
  debug.ended = reason || "ended";
  note("The call ended.");
  show("info", "This call has ended.", { href: root.dataset.recordUrl, text: "See its record" });
  setListening(false);
  stopMicrophone();
  ui.mode.textContent = "Ended";
  ui.staff.textContent = "—";
  // The heading (and the tab's title) no longer say "Live call".
  const heading = document.querySelector("#content h1");
  if (heading) {
    document.title = document.title.replace(heading.textContent, root.dataset.endedTitle);
    heading.textContent = root.dataset.endedTitle;
  }
  // Nothing more can be done on it: the controls and the briefing go, the conversation stays.
  for (const gone of root.querySelectorAll(".live-controls, .briefing")) gone.hidden = true;
  if (socket) socket.close(1000);
  setControls();
  keepFocus(focused);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = encodeURIComponent(root.dataset.since || "");
  // Back after losing the socket while holding the call from here: say so. The call may never
  // have heard the old socket close (its server died): it is held from this one at once,
  // instead of the customer hearing nobody until the call gives up on the old one.
  const holding = heldFromHere(state) ? "&holding=1" : "";
  socket = new WebSocket(`${scheme}://${location.host}/ws/staff/calls/${encodeURIComponent(root.dataset.call)}?since=${since}${holding}`);
  socket.binaryType = "arraybuffer";
  socket.addEventListener("open", () => {
    debug.connected = true;
    firstLive = null;
    reconnectDelay = 500;
    unsay("info", RECONNECTING);
    if (listening) send({ type: "listen" }); // back after a blip: the server forgot us
    if (takeOverPending && microphone) askToTakeOver();
    setControls();
  });
  socket.addEventListener("message", (message) => {
    if (typeof message.data === "string") onEvent(JSON.parse(message.data));
    else if (listening) listening.frame(message.data, { mine: state && state.staff === me });
  });
  socket.addEventListener("close", (event) => {
    debug.connected = false;
    debug.closeCode = event.code;
    if (event.code === 4410) {
      callEnded("not_live");
    } else if (event.code === 4403) {
      // Not to be opened again (signed out, or the permission taken away): the microphone
      // and the players, which nothing reaches now, are released.
      setListening(false);
      stopMicrophone();
      show("error", REFUSED_FOR_GOOD, { href: location.href, text: "Reload the page" });
    } else if (!ended) {
      takeOverUnanswered();
      show("info", RECONNECTING);
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
    }
    setControls();
  });
}

ui.listen.addEventListener("click", () => setListening(!listening));
ui.whisper.addEventListener("submit", (event) => {
  event.preventDefault();
  const box = ui.whisper.querySelector("textarea");
  const text = box.value.trim();
  if (text && send({ type: "whisper", text })) box.value = "";
});
if (ui.takeOver) {
  ui.takeOver.addEventListener("click", () => takeOver());
  ui.handBack.addEventListener("submit", (event) => {
    event.preventDefault();
    const box = ui.handBack.querySelector("textarea");
    if (send({ type: "hand_back", note: box.value.trim() })) box.value = "";
  });
  ui.endForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send({ type: "end_call", reason: ui.endForm.querySelector("input").value.trim() });
  });
}
setInterval(() => {
  if (!ended) ui.duration.textContent = now();
  paintMeters();
}, METER_MS);
window.addEventListener("pagehide", () => {
  if (socket) socket.close(1000);
});
connect();
