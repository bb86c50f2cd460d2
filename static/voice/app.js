// The voice page: its buttons and who is calling. One call at a time (call.js), from "Start
// call" to "Call ended".
//
//   app.js          the buttons, the session token, starting and ending calls
//   call.js         one call: its events, its state, the words said when it ends
//   connection.js   the WebSocket to /ws/voice
//   audio.js        the microphone and the player (with the two AudioWorklet processors)
//   speech-gate.js  when the customer's turn is over (silence detection)
//   captions.js     the conversation: captions and the agent's activity
//   page.js         the state shown to the person, and `window.voiceDebug` for tests

import { clearCaptions } from "./captions.js";
import { Call, CALL_AGAIN_FROM_THE_APP, CALL_US_AGAIN, CARRIED_ON_ELSEWHERE, FROM_THE_APP, showCallReference, TEXT_HINT_CALL } from "./call.js";
import { clearMessage, config, debug, offerNoCall, say, setState, setTalkingTo, setTyping, showMessage, ui } from "./page.js";

const TEXT_HINT_IDLE = "Start a call to type.";
// Text typed and not sent when a call ended stays in the box, to send in the next call.
const TEXT_HINT_KEPT = "Start a call to send what you typed.";
// A paste longer than the box takes (its maxlength) is cut by the browser without a word.
const TEXT_HINT_CUT = `A message can be up to ${ui.textInput.maxLength.toLocaleString("en")} characters: the end of what you pasted didn't fit. Send this part, then the rest.`;
// A page left during a call (reloaded, or left and come back to) hung up on it (pagehide):
// the page that loads next says so, with its reference, rather than nothing.
const LEFT_CALL_KEY = "voice.leftCall";
const LEFT_CALL = "Your call ended when this page was reloaded or left.";

/**
 * The session token a host application passed: `#token=…` (preferred: a fragment never
 * reaches server logs or Referer headers) or `?token=…`. It is removed from the address bar
 * so that it is not bookmarked or shared by accident.
 */
function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const query = new URLSearchParams(location.search);
  const token = fromHash || query.get("token");
  if (token) {
    query.delete("token");
    const search = query.toString();
    history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
  }
  return token;
}
const token = takeToken();

let call = null;
// The call that ended last: its player may still be saying the agent's last words.
let endedCall = null;
// A host app's token is good for one call: once a socket opened with it, only the app can
// give the page another (a new Start call would be refused with `token_used`).
let tokenSpent = false;

function setCallButton(inCall) {
  ui.callButton.textContent = inCall ? "End call" : "Start call";
  ui.callButton.classList.toggle("is-active", inCall);
}

function callQuery() {
  if (token) return `token=${encodeURIComponent(token)}`;
  return `user_id=${encodeURIComponent(ui.customer.value)}`;
}

function startCall() {
  if (tokenSpent) return;
  endedCall?.audio.close(); // a new call is not talked over by the last one's goodbye
  endedCall = null;
  clearCaptions();
  ui.callId.textContent = "";
  Object.assign(debug, { callId: null, endReason: null, closeCode: null, events: [], states: [] });
  Object.assign(debug.mic, { framesSent: 0, bytesSent: 0, firstSentAt: null, lastSentAt: null, audioEnds: 0 });
  Object.assign(debug.player, { received: 0, played: 0, flushed: 0, buffered: 0, underruns: 0, playing: false, audible: false, closed: false });
  clearMessage();
  setTalkingTo(null);
  setCallButton(true);
  if (ui.customer) ui.customer.disabled = true;
  ui.muteButton.classList.remove("is-active");
  ui.muteButton.textContent = "Mute";
  call = new Call(callQuery(), callEnded);
  call.start();
}

/**
 * What the page says of a call once its one-use link is spent: not to call again from here
 * (its button cannot), but how to from the app, once. An ask to call again from here is taken
 * out, and its way from the app ends the words instead.
 */
function forASpentLink(words) {
  if (words.includes("open support") || words === CARRIED_ON_ELSEWHERE) return words;
  const ask = [...FROM_THE_APP.keys()].find((phrase) => words.includes(phrase));
  if (!ask) return `${words} ${CALL_AGAIN_FROM_THE_APP}`;
  const said = words.replace(ask, "").replace(/ {2,}/g, " ").trim();
  return `${said} ${FROM_THE_APP.get(ask)}`;
}

function callEnded(ended) {
  if (call !== ended) return;
  call = null;
  endedCall = ended;
  tokenSpent ||= Boolean(token) && ended.queryUsed;
  if (tokenSpent && debug.message) showMessage(debug.message.kind, forASpentLink(debug.message.text));
  // Controls about to be disabled would drop the focus to <body>: it goes to the call button,
  // or, when that cannot be pressed again, to what the page says about the call.
  if ([ui.muteButton, ui.textInput, ui.textSend, ui.callButton].includes(document.activeElement)) {
    const said = ui.alert.hidden ? ui.info : ui.alert;
    (tokenSpent ? said : ui.callButton).focus();
  }
  setCallButton(false);
  ui.callButton.disabled = tokenSpent;
  if (ui.customer) ui.customer.disabled = false;
  setTalkingTo(null);
  ui.muteButton.disabled = true;
  ui.muteButton.classList.remove("is-active");
  ui.muteButton.textContent = "Mute";
  // A spent link starts no call: the box has nothing true to say of one.
  const kept = ui.textInput.value.trim() ? TEXT_HINT_KEPT : TEXT_HINT_IDLE;
  setTyping(false, tokenSpent ? "" : kept, { comeBack: false });
  if (tokenSpent) offerNoCall();
}

/**
 * The chosen customer, whole: a <select> shows its choice on one line, which a phone cuts
 * ("Asha Verma · Platinum (#"). It is shown in the box under the select instead, wrapping;
 * the select, unseen over it, is still what is tapped and read out.
 */
function showChosenCustomer() {
  ui.customerChosen.textContent = ui.customer.selectedOptions[0]?.text ?? "";
}

if (ui.customer) {
  showChosenCustomer(); // the first customer, or the one a reload kept
  ui.customer.addEventListener("change", showChosenCustomer);
  ui.customerPicker.classList.add("is-drawn");
}

// A key held down repeats, and each repeat of Enter clicks the button again (with detail 0,
// as a first press): held a moment too long, it would start a call and end it, over and over.
for (const button of [ui.callButton, ui.muteButton]) {
  button.addEventListener("keydown", (event) => {
    if (event.repeat && event.key === "Enter") event.preventDefault();
  });
}

ui.callButton.addEventListener("click", (event) => {
  // The button changes its name at each press: the second click of a double click (detail 2;
  // a key's click has 0) would undo the first, ending the call it started or starting another.
  if (event.detail > 1) return;
  if (call) call.hangUp();
  else startCall();
});

ui.muteButton.addEventListener("click", () => {
  if (call) call.toggleMute();
});

ui.textForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.textInput.value.trim();
  if (!text || !call) return;
  if (call.sendText(text)) {
    ui.textInput.value = "";
    sayTextCut(false);
  }
});

/** Whether the hint under the box says a paste was cut, or its usual words in a call. */
function sayTextCut(cut) {
  if (cut) {
    ui.textHint.textContent = TEXT_HINT_CUT;
    say(TEXT_HINT_CUT); // the hint describes the box, but is not read out as it changes
  } else if (ui.textHint.textContent === TEXT_HINT_CUT) ui.textHint.textContent = TEXT_HINT_CALL;
}

ui.textInput.addEventListener("beforeinput", (event) => {
  if (event.inputType !== "insertFromPaste" || event.data === null) return;
  const box = ui.textInput;
  const room = box.maxLength - box.value.length + (box.selectionEnd - box.selectionStart);
  // A one-line box takes each line break pasted as a space.
  if (event.data.replace(/\r\n|\r|\n/g, " ").length > room) sayTextCut(true);
});
ui.textInput.addEventListener("input", () => {
  if (!ui.textInput.value) sayTextCut(false); // nothing left of the paste to send
});

// Hanging up when the tab closes lets the server write the call record straight away.
window.addEventListener("pagehide", () => {
  if (!call) return;
  if (debug.callId) {
    try {
      sessionStorage.setItem(LEFT_CALL_KEY, debug.callId);
    } catch {
      // Storage refused (blocked for the site): the next page cannot say it, that is all.
    }
  }
  call.hangUp();
});

// The page came back from the browser's back-forward cache: it is the page that was left,
// still saying what became of its call; the next page to load has nothing to add.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) takeLeftCall();
});

/** The call a page left before this one was on, once: its id, or null. */
function takeLeftCall() {
  try {
    const callId = sessionStorage.getItem(LEFT_CALL_KEY);
    sessionStorage.removeItem(LEFT_CALL_KEY);
    return callId;
  } catch {
    return null;
  }
}

// What must be true before a call can start; the template already says why when it is not.
function canCall() {
  if (!config.agentConfigured) return false;
  if (token) return true;
  if (!config.demoMode) {
    showMessage("info", "Open this page from your account in the app to talk to support.");
    return false;
  }
  return Boolean(ui.customer && ui.customer.options.length);
}

if (token && ui.customerField) ui.customerField.hidden = true; // the host app said who
ui.callButton.disabled = !canCall();
setState(ui.callButton.disabled ? "unavailable" : "idle");
// No call to start, nor to type in: the page promises neither.
if (ui.callButton.disabled) {
  setTyping(false, "", { comeBack: false });
  offerNoCall();
}
const leftCall = takeLeftCall();
if (leftCall) {
  showCallReference(leftCall);
  // From the app's one-use link the page has no link left (app.js took it out of the address
  // bar): only the app can make the next call.
  showMessage("info", `${LEFT_CALL} ${ui.callButton.disabled ? CALL_AGAIN_FROM_THE_APP : CALL_US_AGAIN}`);
}
