// The page's state as the person sees it: the elements, the state line, the message area and
// the microphone meter. Every other module changes what is shown through this one.
//
// Tests read `window.voiceDebug` (`debug` here): the call state, the events received, and the
// microphone's and the player's counters. It holds nothing secret (never the session token).

import { withIds } from "./ids.js";

const STATE_WORDS = {
  idle: "Ready to call",
  unavailable: "Calls unavailable",
  failed: "Not connected",
  connecting: "Connecting…",
  listening: "Listening",
  muted: "Muted",
  mic_lost: "Microphone off",
  speaking: "Assistant speaking",
  colleague: "Colleague speaking",
  reconnecting: "Reconnecting…",
  ended: "Call ended",
};

// The state line changes at every turn (speaking, listening): a screen reader is told only of
// the changes that are news, over the agent's voice it hears anyway. Listening is news only
// when the call has just got through (or back). See say().
const STATES_SAID = new Set(["connecting", "reconnecting", "ended", "failed"]);
const SAID_BEFORE_LISTENING = new Set(["connecting", "reconnecting"]);

const root = document.getElementById("voice");

export const ui = {
  callButton: document.getElementById("call-button"),
  muteButton: document.getElementById("mute-button"),
  customer: document.getElementById("customer"),
  customerPicker: document.getElementById("customer-picker"),
  customerChosen: document.getElementById("customer-chosen"),
  customerField: document.getElementById("customer-field"),
  state: document.getElementById("state"),
  stateText: document.getElementById("state-text"),
  stateSaid: document.getElementById("state-said"),
  meter: document.getElementById("level"),
  meterFill: document.querySelector("#level .meter-fill"),
  alert: document.getElementById("alert"),
  info: document.getElementById("info"),
  alsoType: document.getElementById("also-type"),
  conversation: document.getElementById("conversation"),
  captions: document.getElementById("captions"),
  emptyCaptions: document.getElementById("captions-empty"),
  textForm: document.getElementById("text-form"),
  textInput: document.getElementById("text-input"),
  textSend: document.getElementById("text-send"),
  textHint: document.getElementById("text-hint"),
  callId: document.getElementById("call-id"),
  talkingTo: document.getElementById("talking-to"),
};

/** What the server rendered into the page (templates/voice/index.html). */
export const config = {
  agentConfigured: root.dataset.agentConfigured === "true",
  demoMode: root.dataset.demoMode === "true",
  // How long the server keeps a dropped call for the page (VOICE_RESUME_GRACE_S).
  resumeGraceMs: (Number(root.dataset.resumeGraceS) || 30) * 1000,
  micWorkletUrl: root.dataset.micWorklet,
  playerWorkletUrl: root.dataset.playerWorklet,
};

export const debug = {
  state: "idle",
  states: [], // every state shown, in order (each once per change)
  callId: null,
  talkingTo: null, // a colleague's name while one holds the call (contract section 8)
  endReason: null,
  closeCode: null,
  reconnects: 0, // times the page tried to get back to its call after losing the socket
  reconnectGiveUpMs: 0, // how long it tries (call.js): about as long as the server keeps the call
  message: null,
  events: [],
  mic: { sampleRate: null, framesSent: 0, bytesSent: 0, firstSentAt: null, lastSentAt: null, audioEnds: 0, level: 0 },
  // `closed`: the call's player is gone (after its last words, when the server ended the call).
  player: { received: 0, played: 0, flushed: 0, buffered: 0, underruns: 0, playing: false, audible: false, closed: false },
};
window.voiceDebug = debug;

export function showMessage(kind, text) {
  // Problems go to the role=alert region (announced at once), news to role=status.
  ui.alert.replaceChildren(...withIds(kind === "error" ? text : ""));
  ui.info.replaceChildren(...withIds(kind === "error" ? "" : text));
  ui.alert.hidden = kind !== "error";
  // Not `hidden`: a status region must be in the accessibility tree before its news, or a
  // screen reader may not say it. Empty, it is only out of sight.
  ui.info.classList.toggle("is-empty", kind === "error" || !text);
  debug.message = text ? { kind, text } : null;
}

export function clearMessage() {
  showMessage("info", "");
}

/**
 * Tell a screen reader `text`, news the page shows in a place that is not a live region (the
 * state line, the agent's activity in the conversation). The conversation itself is not one:
 * its words are the call's own, which the customer has just heard or said, and read out again
 * they would talk over the agent (and, from speakers, reach the microphone and interrupt it).
 * The same text twice in a row is said once.
 */
export function say(text) {
  ui.stateSaid.textContent = text;
}

export function setState(state) {
  if (debug.states[debug.states.length - 1] !== state) debug.states.push(state);
  if (STATES_SAID.has(state) || (state === "listening" && SAID_BEFORE_LISTENING.has(debug.state))) {
    say(STATE_WORDS[state]);
  }
  debug.state = state;
  root.dataset.state = state;
  ui.stateText.textContent = STATE_WORDS[state];
}

export function setMeter(level) {
  // RMS to a 0..1 meter on a -60..0 dBFS scale, which is how loudness is heard.
  const db = level > 0 ? 20 * Math.log10(level) : -60;
  const value = Math.max(0, Math.min(1, (db + 60) / 60));
  ui.meterFill.style.transform = `scaleX(${value})`;
  ui.meter.setAttribute("aria-valuenow", String(Math.round(value * 100)));
}

let typingParked = false; // focus left the text box when it was disabled, to come back

/**
 * Whether the customer can type now, and the hint under the box saying so (not its
 * placeholder: on a phone the box is too narrow to show one whole); no hint ("") is none
 * shown, where there is nothing true to say (calls unavailable, a spent one-use link). A
 * disabled control drops its focus to <body>: the focus goes to the call button instead
 * and, with `comeBack`, back to the text box when it is enabled again.
 */
export function setTyping(enabled, hint, { comeBack = true } = {}) {
  if (!enabled && ui.textForm.contains(document.activeElement)) {
    ui.callButton.focus();
    typingParked = comeBack;
  }
  ui.textInput.disabled = ui.textSend.disabled = !enabled;
  ui.textHint.textContent = hint;
  ui.textHint.hidden = !hint;
  if (enabled && typingParked && document.activeElement === ui.callButton) ui.textInput.focus();
  if (enabled || !comeBack) typingParked = false;
}

/**
 * No call can be made from this page (calls are unavailable, or its one-use link is spent):
 * it promises none. The intro no longer offers typing, and the conversation keeps only what
 * a call that ended said: its "captions appear here" and its text box go (hidden, so neither
 * seen, nor read out, nor reached with Tab), and the whole card when no call said anything.
 * The call's card above it stays as it is.
 */
export function offerNoCall() {
  ui.alsoType.hidden = true;
  ui.emptyCaptions.hidden = true;
  ui.textForm.hidden = true;
  ui.conversation.hidden = !ui.captions.querySelector(".line");
}

/**
 * A colleague as the page names them: a person, said in so many words. The assistant
 * introduces itself by a name too ("Priya, an AI assistant"), so a name alone, even "from our
 * support team", does not tell the customer they no longer talk to the AI (EU AI Act, Art. 50).
 */
export function colleague(name) {
  return `${name}, a person from our support team`;
}

/**
 * Who the customer is talking to: a colleague by name, or null for the assistant. The line
 * naming the colleague is shown once `heard`: their voice has reached the customer (before,
 * the page says it is connecting them).
 */
export function setTalkingTo(name, { heard = true } = {}) {
  debug.talkingTo = name;
  ui.talkingTo.textContent = name ? `You're talking to ${colleague(name)}.` : "";
  ui.talkingTo.hidden = !name || !heard;
}
