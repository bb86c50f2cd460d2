// The voice page: one call at a time, from "Start call" to "Call ended".
//
// This script owns the button, the WebSocket to /ws/voice (contract section 3) and everything
// shown to the person. Audio plumbing is in audio.js and the two AudioWorklet processors.
//
// Tests read `window.voiceDebug`: the call state, the events received, and the microphone's
// and the player's counters. It holds nothing secret (never the session token).

import { CallAudio, MicrophoneError } from "./audio.js";

// Silence detection: the microphone "pauses" (we send audio_end, which lets the agent answer
// without waiting for its own end-of-speech timeout) after this long below the speech level.
const SPEECH_LEVEL = 0.01; // RMS of a 20 ms frame, 0..1 (about -40 dBFS)
const SILENCE_HOLD_MS = 1000;
// While paused, frames are held back; the last few are sent when speech resumes so that the
// start of the first word is not clipped.
const PREROLL_FRAMES = 10; // 200 ms
const HANG_UP_GRACE_MS = 1500;
const TEXT_PLACEHOLDER_IDLE = "Start a call to type";
const TEXT_PLACEHOLDER_CALL = "Type and press Enter"; // wait this long for the server's `ended` after we hang up
const RESUMED_NOTICE_MS = 6000;

const STATE_WORDS = {
  idle: "Ready to call",
  unavailable: "Calls unavailable",
  failed: "Not connected",
  connecting: "Connecting…",
  listening: "Listening",
  muted: "Muted",
  speaking: "Agent speaking",
  reconnecting: "Reconnecting…",
  ended: "Call ended",
};

const ENDED_WORDS = {
  caller_hung_up: "You ended the call.",
  caller_left: "You left the call.",
  agent_unavailable: "The call ended because our voice assistant became unavailable.",
  agent_not_configured:
    "The voice assistant isn't set up on this server yet (no Gemini API key), so the call couldn't start.",
  // The server says these only with a close code today (4401, 4404); as `ended` reasons too
  // the page would not depend on the code, which a browser too busy to answer the close
  // handshake in time sees as 1006.
  unauthorized: "This support link has expired or isn't valid. Go back to the app and open support again.",
  customer_not_found: "We couldn't find your customer account, so the call couldn't start.",
};

const CLOSE_WORDS = {
  4401: ENDED_WORDS.unauthorized,
  4403: "This page isn't allowed to connect to the voice service from here.",
  4404: ENDED_WORDS.customer_not_found,
  4503: ENDED_WORDS.agent_not_configured,
  1009: "The call was closed because a message was too large.",
};

// Before a call could start: the worklet scripts or the WebSocket could not reach the server.
const UNREACHABLE_WORDS = "Can't reach the voice service. Check your internet connection and try again.";

// `error` codes about a bad frame from this page (contract section 3).
const FRAME_ERRORS = new Set(["frame_too_large", "bad_json", "unknown_type", "odd_length"]);

const MICROPHONE_WORDS = {
  denied:
    "Microphone permission was denied. Allow the microphone for this site in your browser's settings (the icon in the address bar), then start the call again.",
  missing: "No microphone was found. Connect one (or a headset) and start the call again.",
  busy: "The microphone is in use by another app or couldn't be started. Close other apps using it and try again.",
  insecure: "The microphone only works on a secure (https) page.",
  unsupported: "This browser can't capture the microphone. Try a recent Chrome, Edge, Firefox or Safari.",
};

const ORDER_STATUS_WORDS = {
  placed: "placed",
  preparing: "being prepared",
  out_for_delivery: "out for delivery",
  delivered: "delivered",
  cancelled: "cancelled",
  refunded: "refunded",
};

const rupeeFormat = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
/** Tool results carry rupees as strings ("337.50"): "₹337.50", with Indian grouping. */
const inr = (amount) => rupeeFormat.format(Number(amount));

const plural = (count, one, many) => `${count} ${count === 1 ? one : many}`;

// What the agent is doing, in plain words: while a tool runs, and from its result.
const TOOL_WORDS = {
  get_user_profile: {
    started: "Looking up your account…",
    done: (r) => (r.tier ? `Found your account (${r.tier} member)` : "Found your account"),
  },
  check_order_status: {
    started: "Checking your orders…",
    done: (r) => `Found ${plural((r.orders || []).length, "recent order", "recent orders")}`,
  },
  get_order_details: {
    started: "Looking at your order…",
    done: (r) => `Order ${r.order_id}: ${ORDER_STATUS_WORDS[r.status] || r.status}`,
  },
  initiate_refund: {
    started: "Processing your refund…",
    done: (r) => `Refund of ${inr(r.amount)} credited to your wallet`,
    refused: (r) => `No refund: ${r.message}`,
  },
  file_complaint: {
    started: "Filing your complaint…",
    done: (r) => `Complaint ${r.complaint_id} filed`,
  },
  escalate_to_human: {
    started: "Getting a colleague to help…",
    done: (r) => `Ticket ${r.ticket_id} opened for a colleague`,
  },
};
const UNKNOWN_TOOL = { started: "Working on it…", done: () => "Done" };

function toolWords(name, status, result) {
  const words = TOOL_WORDS[name] || UNKNOWN_TOOL;
  if (status === "started") return words.started;
  if (status === "failed") return "That didn't work this time; the assistant will tell you what's next.";
  if (result && result.ok === false) {
    if (result.reason === "unavailable") return "Our records are unavailable right now.";
    return words.refused ? words.refused(result) : result.message || "That wasn't possible.";
  }
  return words.done(result || {});
}

// --- The page --------------------------------------------------------------------------------

const root = document.getElementById("voice");
const ui = {
  callButton: document.getElementById("call-button"),
  muteButton: document.getElementById("mute-button"),
  customer: document.getElementById("customer"),
  customerField: document.getElementById("customer-field"),
  state: document.getElementById("state"),
  stateText: document.getElementById("state-text"),
  meter: document.getElementById("level"),
  meterFill: document.querySelector("#level .meter-fill"),
  alert: document.getElementById("alert"),
  info: document.getElementById("info"),
  captions: document.getElementById("captions"),
  emptyCaptions: document.getElementById("captions-empty"),
  textForm: document.getElementById("text-form"),
  textInput: document.getElementById("text-input"),
  textSend: document.getElementById("text-send"),
  callId: document.getElementById("call-id"),
};

const config = {
  agentConfigured: root.dataset.agentConfigured === "true",
  demoMode: root.dataset.demoMode === "true",
  micWorkletUrl: root.dataset.micWorklet,
  playerWorkletUrl: root.dataset.playerWorklet,
};

const debug = {
  state: "idle",
  states: [], // every state shown, in order (each once per change)
  callId: null,
  endReason: null,
  closeCode: null,
  message: null,
  events: [],
  mic: { sampleRate: null, framesSent: 0, bytesSent: 0, firstSentAt: null, lastSentAt: null, audioEnds: 0, level: 0 },
  player: { received: 0, played: 0, flushed: 0, buffered: 0, underruns: 0, playing: false },
};
window.voiceDebug = debug;

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

function showMessage(kind, text) {
  // Problems go to the role=alert region (announced at once), news to role=status.
  ui.alert.textContent = kind === "error" ? text : "";
  ui.info.textContent = kind === "error" ? "" : text;
  ui.alert.hidden = kind !== "error";
  ui.info.hidden = kind === "error" || !text;
  debug.message = text ? { kind, text } : null;
}

function clearMessage() {
  showMessage("info", "");
}

function setState(state) {
  if (debug.states[debug.states.length - 1] !== state) debug.states.push(state);
  debug.state = state;
  root.dataset.state = state;
  ui.stateText.textContent = STATE_WORDS[state];
}

function setMeter(level) {
  // RMS to a 0..1 meter on a -60..0 dBFS scale, which is how loudness is heard.
  const db = level > 0 ? 20 * Math.log10(level) : -60;
  const value = Math.max(0, Math.min(1, (db + 60) / 60));
  ui.meterFill.style.transform = `scaleX(${value})`;
  ui.meter.setAttribute("aria-valuenow", String(Math.round(value * 100)));
}

// --- Captions and activity ---------------------------------------------------------------------

function scrollCaptions() {
  ui.captions.scrollTop = ui.captions.scrollHeight;
}

function captionLine(kind, who, text) {
  const line = document.createElement("li");
  line.className = `line line--${kind}`;
  if (who) {
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    line.append(label, " ");
  }
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  line.append(body);
  return line;
}

function addLine(line) {
  ui.emptyCaptions.hidden = true;
  ui.captions.append(line);
  scrollCaptions();
  return line;
}

const WHO = { user: "You", agent: "Agent" };

class Captions {
  constructor() {
    this.partial = { user: null, agent: null };
    this.tools = []; // activity lines of tools still running: {name, line}
  }

  transcript(role, text, final) {
    const current = this.partial[role];
    if (!final) {
      if (current) {
        current.querySelector(".text").textContent = text;
        scrollCaptions();
      } else {
        // Partial captions change many times a second: hidden from screen readers, which
        // hear each utterance once, when its final line replaces it.
        const line = captionLine(role, WHO[role], text);
        line.classList.add("partial");
        line.setAttribute("aria-hidden", "true");
        this.partial[role] = addLine(line);
      }
      return;
    }
    const line = captionLine(role, WHO[role], text);
    if (current) current.replaceWith(line);
    else addLine(line);
    this.partial[role] = null;
    scrollCaptions();
  }

  typed(text) {
    addLine(captionLine("user", "You (typed)", text));
  }

  interrupted() {
    const agentLines = ui.captions.querySelectorAll(".line--agent");
    const last = agentLines[agentLines.length - 1];
    if (last && !last.classList.contains("cut")) {
      last.classList.add("cut");
      const note = document.createElement("span");
      note.className = "visually-hidden";
      note.textContent = " (interrupted)";
      last.append(note);
    }
  }

  tool(name, status, result) {
    const line = captionLine("activity", "", toolWords(name, status, result));
    line.dataset.tool = name;
    line.dataset.status = status === "done" && result && result.ok === false ? "refused" : status;
    if (status === "started") {
      this.tools.push({ name, line: addLine(line) });
      return;
    }
    // Replace the running line of the same tool (a new element, so it is announced).
    const index = this.tools.findIndex((t) => t.name === name);
    if (index >= 0) {
      this.tools[index].line.replaceWith(line);
      this.tools.splice(index, 1);
      scrollCaptions();
    } else {
      addLine(line);
    }
  }

  note(text) {
    addLine(captionLine("note", "", text));
  }
}

// --- One call ------------------------------------------------------------------------------------

class Call {
  constructor(query) {
    this.query = query;
    this.audio = new CallAudio(config); // inside the click: see CallAudio
    this.captions = new Captions();
    this.socket = null;
    this.opened = false;
    this.ready = false;
    this.reconnecting = false;
    this.muted = false;
    this.finished = false;
    this.hangingUp = false;
    this.endReason = null;
    this.serverError = null; // the last `error` event
    this.ticketId = null;
    // Silence detection (see SILENCE_HOLD_MS).
    this.paused = false;
    this.heardSpeech = false;
    this.lastSpeechAt = 0;
    this.preroll = [];
  }

  async start() {
    setState("connecting");
    try {
      await this.audio.openMicrophone();
    } catch (error) {
      const kind = error instanceof MicrophoneError ? error.kind : "unsupported";
      this.finish(MICROPHONE_WORDS[kind], { error: true });
      return;
    }
    if (this.finished) {
      this.audio.close(); // hung up while the permission prompt was open: release the mic
      return;
    }
    try {
      // Both worklets before the socket: once it opens, the page must be free to answer it
      // (a browser busy loading modules can miss the server's close handshake).
      const [sampleRate] = await Promise.all([
        this.audio.startMicrophone((frame) => this.onFrame(frame)),
        this.audio.startPlayer((stats) => this.onPlayerStats(stats)),
      ]);
      debug.mic.sampleRate = sampleRate;
    } catch (error) {
      if (this.finished) return; // hung up while audio was starting
      if (error.name === "AbortError") {
        // addModule() rejects with AbortError when it cannot fetch a worklet's script: the
        // server that serves them is unreachable. Not the browser's fault, and reloading the
        // page would only swap it for the browser's own error page.
        this.finish(UNREACHABLE_WORDS, { error: true });
        return;
      }
      console.error("voice: audio setup failed", error);
      this.finish("Your browser couldn't start audio for the call. Please reload the page and try again.", {
        error: true,
      });
      return;
    }
    if (!this.finished) this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/voice?${this.query}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.opened = true;
      ui.textInput.disabled = ui.textSend.disabled = false;
      ui.textInput.placeholder = TEXT_PLACEHOLDER_CALL;
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") this.onEvent(JSON.parse(event.data));
      else this.audio.play(event.data);
    };
    socket.onclose = (event) => this.onClose(event);
    this.socket = socket;
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      // Audio goes as a binary frame; events as JSON text.
      this.socket.send(message instanceof ArrayBuffer ? message : JSON.stringify(message));
      return true;
    }
    return false;
  }

  // --- microphone ---

  onFrame({ pcm, level }) {
    if (this.finished) return;
    debug.mic.level = this.muted ? 0 : level;
    setMeter(debug.mic.level);
    if (this.muted) return;
    const now = performance.now();
    if (level >= SPEECH_LEVEL) {
      this.heardSpeech = true;
      this.lastSpeechAt = now;
      if (this.paused) {
        this.paused = false;
        for (const held of this.preroll) this.sendAudio(held);
        this.preroll = [];
      }
    } else if (!this.paused && this.heardSpeech && now - this.lastSpeechAt >= SILENCE_HOLD_MS) {
      this.pauseMicrophone();
    }
    if (this.paused) {
      this.preroll.push(pcm);
      if (this.preroll.length > PREROLL_FRAMES) this.preroll.shift();
    } else {
      this.sendAudio(pcm);
    }
  }

  sendAudio(pcm) {
    if (!this.send(pcm)) return;
    const now = performance.now();
    debug.mic.framesSent += 1;
    debug.mic.bytesSent += pcm.byteLength;
    debug.mic.firstSentAt ??= now;
    debug.mic.lastSentAt = now;
  }

  /** The microphone went quiet (or was muted): tell the agent the customer's turn is over. */
  pauseMicrophone() {
    this.paused = true;
    this.preroll = [];
    if (this.send({ type: "audio_end" })) debug.mic.audioEnds += 1;
  }

  toggleMute() {
    this.muted = !this.muted;
    ui.muteButton.setAttribute("aria-pressed", String(this.muted));
    ui.muteButton.textContent = this.muted ? "Unmute" : "Mute";
    if (this.muted && !this.paused) this.pauseMicrophone();
    if (this.muted) setMeter(0);
    this.refreshState();
  }

  // --- events from the server ---

  onEvent(event) {
    debug.events.push(event);
    switch (event.type) {
      case "ready":
        this.ready = true;
        debug.callId = event.call_id;
        ui.callId.textContent = `Call ID: ${event.call_id}`;
        ui.muteButton.disabled = false;
        showMessage("info", "You're through to the assistant. Go ahead and speak, or type below.");
        break;
      case "transcript":
        this.captions.transcript(event.role, event.text, event.final);
        break;
      case "tool":
        this.captions.tool(event.name, event.status, event.result);
        break;
      case "interrupted":
        this.audio.flush();
        this.captions.interrupted();
        break;
      case "turn_complete":
        this.audio.drain();
        break;
      case "reconnecting":
        this.reconnecting = true;
        showMessage("info", "Reconnecting to the assistant… the call is still on, hold on a moment.");
        break;
      case "resumed":
        this.reconnecting = false;
        showMessage("info", "Back: the call resumed after a network blip.");
        this.captions.note("The call resumed after a network blip.");
        setTimeout(() => {
          if (debug.message && debug.message.text.startsWith("Back:")) clearMessage();
        }, RESUMED_NOTICE_MS);
        break;
      case "escalated":
        this.ticketId = event.ticket_id;
        // The agent's own escalation already has an activity line naming the ticket.
        if (!ui.captions.textContent.includes(event.ticket_id)) {
          this.captions.note(`A colleague will take over: your ticket number is ${event.ticket_id}.`);
        }
        showMessage("info", `Escalated to a human: a colleague will follow up on ticket ${event.ticket_id}.`);
        break;
      case "error":
        if (FRAME_ERRORS.has(event.code)) {
          // This page's bugs, not the customer's: the call goes on.
          console.warn("voice: server error", event);
        } else {
          // Said to the customer when the call ends (`ended` or a close follows these).
          this.serverError = event;
        }
        break;
      case "ended":
        this.endReason = event.reason;
        debug.endReason = event.reason;
        break;
    }
    this.refreshState();
  }

  onPlayerStats(stats) {
    Object.assign(debug.player, stats);
    this.refreshState();
  }

  refreshState() {
    if (this.finished) return;
    if (this.reconnecting) setState("reconnecting");
    else if (!this.ready) setState("connecting");
    else if (debug.player.playing) setState("speaking");
    else setState(this.muted ? "muted" : "listening");
  }

  // --- ending ---

  /** The customer pressed "End call". */
  hangUp() {
    if (this.finished || this.hangingUp) return;
    this.hangingUp = true;
    this.audio.close(); // silence and mic off at once; the server's goodbye is only words
    if (this.send({ type: "end" })) {
      setTimeout(() => this.socket && this.socket.close(1000), HANG_UP_GRACE_MS);
    } else {
      if (this.socket) this.socket.close(1000);
      this.finish(ENDED_WORDS.caller_hung_up);
    }
  }

  onClose(event) {
    debug.closeCode = event.code;
    debug.closeClean = event.wasClean;
    this.finish(this.closeWords(event.code), { error: this.closeIsError(event.code) });
  }

  closeWords(code) {
    if (this.endReason) {
      let words = ENDED_WORDS[this.endReason];
      if (this.endReason === "agent_unavailable" && this.serverError) words = this.serverError.message;
      words ||= `The call ended (${this.endReason.replaceAll("_", " ")}).`;
      if (this.ticketId && !words.includes(this.ticketId)) {
        words += ` A colleague will follow up on ticket ${this.ticketId}.`;
      }
      return words;
    }
    if (this.hangingUp) return ENDED_WORDS.caller_hung_up;
    if (CLOSE_WORDS[code]) return CLOSE_WORDS[code];
    // e.g. error{unavailable} then close 4500: the database was unreachable at connect.
    if (this.serverError) return this.serverError.message;
    if (!this.opened) return UNREACHABLE_WORDS;
    return "The connection to the voice service was lost. Please start the call again.";
  }

  closeIsError(code) {
    if (this.endReason) return this.endReason !== "caller_hung_up" && this.endReason !== "caller_left";
    return !this.hangingUp;
  }

  finish(words, { error = false } = {}) {
    if (this.finished) return;
    this.finished = true;
    this.audio.close();
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
    setMeter(0);
    setState(this.ready ? "ended" : "failed");
    showMessage(error ? "error" : "info", words);
    callEnded(this);
  }
}

// --- Wiring ------------------------------------------------------------------------------------

let call = null;

function setCallButton(inCall) {
  ui.callButton.textContent = inCall ? "End call" : "Start call";
  ui.callButton.classList.toggle("is-active", inCall);
}

function callQuery() {
  if (token) return `token=${encodeURIComponent(token)}`;
  return `user_id=${encodeURIComponent(ui.customer.value)}`;
}

function startCall() {
  ui.captions.querySelectorAll(".line").forEach((line) => line.remove());
  ui.emptyCaptions.hidden = false;
  ui.callId.textContent = "";
  Object.assign(debug, { callId: null, endReason: null, closeCode: null, events: [], states: [] });
  Object.assign(debug.mic, { framesSent: 0, bytesSent: 0, firstSentAt: null, lastSentAt: null, audioEnds: 0 });
  Object.assign(debug.player, { received: 0, played: 0, flushed: 0, buffered: 0, underruns: 0, playing: false });
  clearMessage();
  setCallButton(true);
  if (ui.customer) ui.customer.disabled = true;
  ui.muteButton.setAttribute("aria-pressed", "false");
  ui.muteButton.textContent = "Mute";
  call = new Call(callQuery());
  call.start();
}

function callEnded(ended) {
  if (call !== ended) return;
  call = null;
  setCallButton(false);
  if (ui.customer) ui.customer.disabled = false;
  ui.muteButton.disabled = true;
  ui.muteButton.setAttribute("aria-pressed", "false");
  ui.muteButton.textContent = "Mute";
  ui.textInput.disabled = ui.textSend.disabled = true;
  ui.textInput.placeholder = TEXT_PLACEHOLDER_IDLE;
}

ui.callButton.addEventListener("click", () => {
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
  if (call.send({ type: "text", text })) {
    call.captions.typed(text);
    ui.textInput.value = "";
  }
});

// Hanging up when the tab closes lets the server write the call record straight away.
window.addEventListener("pagehide", () => {
  if (call) call.hangUp();
});

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
