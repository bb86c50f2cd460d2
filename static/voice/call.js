// One call, from "Start call" to "Call ended": the microphone and player (audio.js), the
// WebSocket (connection.js), the captions (captions.js) and what the page says about it
// (page.js). A call is used once; app.js makes a new one for the next call.

import { CallAudio, MicrophoneError } from "./audio.js";
import { Captions, captionsMention } from "./captions.js";
import { CallConnection } from "./connection.js";
import { clearMessage, colleague, config, debug, setMeter, setState, setTalkingTo, setTyping, showMessage, ui } from "./page.js";
import { SpeechGate } from "./speech-gate.js";

const HANG_UP_GRACE_MS = 1500; // wait this long for the server's `ended` after we hang up
// The server ended the call (an idle goodbye, say) after sending the agent's last words, which
// reach the page faster than they play: they are played out, for this long at most.
const LAST_WORDS_MAX_MS = 6000;
// Hanging up while reconnecting: how long to try to get back to the call to say so.
const HANG_UP_RESUME_MS = 3000;
// A dropped socket is retried with backoff, with the call's resume token, for about as long
// as the server keeps the call for it (VOICE_RESUME_GRACE_S, 30 s by default): until 2 s
// before the server gives it up, and 28 s at least (a try after that is told the call is
// over, which says more than "connection lost").
const RECONNECT_FIRST_MS = 300;
const RECONNECT_MAX_MS = 4000;
const RECONNECT_GIVE_UP_MS = Math.max(28000, config.resumeGraceMs - 2000);
debug.reconnectGiveUpMs = RECONNECT_GIVE_UP_MS; // set once, as page.js's debug is made
// A try can also go unanswered (a network that lost its way holds the handshake open, and the
// browser waits on it for minutes): one not open by then is given up, and the next one made.
const RECONNECT_ATTEMPT_MS = 6000;
// The same for the call's first connection, which the server answers at once (before the
// agent is ready): one not open by then is given up, and the customer told.
const FIRST_CONNECT_MS = 10000;
// Close codes after which trying again cannot help.
const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404, 4409, 4410, 4429, 4503, 1009]);
// A server that is stopping refuses new calls (4502): try another, through the balancer, after these.
const MOVING_RETRIES_MS = [500, 1500];
const MOVING = 4502;
const CALL_OVER = 4410; // a resume token for a call that has ended
const DEBUG_EVENTS_KEPT = 500;
const DEBUG_RECENT_SAMPLES = 4800; // the last 200 ms of audio received (voiceDebug.recentAudio())
export const TEXT_HINT_CALL = "Press Enter to send.";
const TEXT_HINT_WAIT = "You can type again once the call is reconnected.";
const RECONNECTING = "Reconnecting… the call is still on, hold on a moment.";
const OFFLINE = "Your device lost its internet connection.";
// The greeting once through, and what it becomes while muted (any other news stays as it is).
const THROUGH = "You're through to the assistant. Go ahead and speak, or type below.";
const THROUGH_MUTED = "You're muted: the assistant can't hear you. Unmute to speak, or type below.";
const MICROPHONE_LOST =
  "Your microphone stopped (it was unplugged, or its permission for this site was turned off), so the assistant can't hear you. Type below, or end the call and start it again once the microphone is back.";
const RESUMED_NOTICE_MS = 6000;
// The Live API session is changed routinely (GoAway) and back within a second or so: the
// customer hears nothing of it, so the page says nothing unless it takes longer than this.
const UPSTREAM_QUIET_MS = 2000;
// A typed message the server refused is the latest one sent, answered within this.
const TYPED_ANSWER_MS = 5000;
// What the page asks once a call is over or could not start, when only a new call can help.
const START_A_NEW_CALL = "Please start a new call.";
const START_AGAIN = "Please start the call again.";
const START_AGAIN_SHORTLY = "Please start the call again in a moment.";
export const CALL_US_AGAIN = "If you still need help, call us again.";
const TRY_AGAIN = "Please try again.";
const TRY_AGAIN_LATER = "Please try again later.";
// A spent one-use link cannot make a call from this page, only the app can: app.js takes an
// ask above (or the server's, in the `error` it ends a call with) out of what the page says
// and ends with its way from the app, so that the advice is given once. Words without an ask
// end with CALL_AGAIN_FROM_THE_APP.
export const CALL_AGAIN_FROM_THE_APP = "To call us again, open support in the app.";
// The call goes on in another tab (close 4409): nothing to call again for.
export const CARRIED_ON_ELSEWHERE = "This call carried on in another window or tab.";
export const FROM_THE_APP = new Map([
  [START_A_NEW_CALL, CALL_AGAIN_FROM_THE_APP],
  [START_AGAIN, CALL_AGAIN_FROM_THE_APP],
  [START_AGAIN_SHORTLY, "Please open support in the app to call us again in a moment."],
  [CALL_US_AGAIN, "If you still need help, open support in the app to call us again."],
  [TRY_AGAIN, "Please open support in the app to try again."],
  [TRY_AGAIN_LATER, "Please open support in the app to try again later."],
  // realtime/call_session.py, an assistant lost for good with no ticket to follow up on.
  ["Please try again shortly.", "Please open support in the app to try again shortly."],
]);

const ENDED_WORDS = {
  caller_hung_up: "You ended the call.",
  caller_left: "You left the call.",
  agent_unavailable: "The call ended because our voice assistant became unavailable.",
  // Customers are not told why (a missing GEMINI_API_KEY): the server's log says it, and in
  // development (DEBUG) the page before the call.
  agent_not_configured:
    `Our voice assistant is not available right now, so the call couldn't start. ${TRY_AGAIN_LATER}`,
  // The server says these only with a close code today (4401, 4404); as `ended` reasons too
  // the page would not depend on the code, which a browser too busy to answer the close
  // handshake in time sees as 1006.
  unauthorized: "This support link has expired or isn't valid. Go back to the app and open support again.",
  token_used: "This support link was already used for a call. Go back to the app and open support again.",
  customer_not_found: "We couldn't find your customer account, so the call couldn't start.",
  too_many_calls: "You already have a call open with us. Use that one, or end it first.",
  call_over: "The call has ended.",
  idle: "The call ended because we didn't hear from you for a while.",
  max_duration: "The call reached its maximum length and ended.",
  unavailable: "We can't reach our records right now, so the call couldn't start. Please try again shortly.",
  ended_by_staff: "A member of our support team ended the call.",
  // A colleague held the call with no assistant to hand it back to (livestaff/on_call.py): their
  // page went, or they may no longer hold calls.
  staff_left: "Our colleague was cut off, so the call has ended.",
  staff_not_allowed: "Our colleague can no longer stay on this call, so it has ended.",
  server_error: `Something went wrong on our side and the call ended. ${START_A_NEW_CALL}`,
  // realtime/guards.py: the page's address is not one the voice service takes calls from.
  origin_refused:
    "This page isn't allowed to connect to our voice service from here. Please open support from our app or website.",
};
// Refusals before `ready` after which the server gives a one-use link back (realtime/consumers.py,
// _give_back_token): "try again shortly" or "end the other call first" must be true of it.
const LINK_GIVEN_BACK = new Set(["too_many_calls", "unavailable", "agent_unavailable"]);
// Endings said as news, not as a problem.
const INFO_ENDINGS = new Set(["caller_hung_up", "caller_left", "ended_by_staff"]);
// Endings the server explains in an `error` just before `ended`: its words are the better ones.
const SERVER_WORDS_ENDINGS = new Set([
  "agent_unavailable", "ended_by_staff", "server_error", "staff_left", "staff_not_allowed",
]);

const CLOSE_WORDS = {
  4401: ENDED_WORDS.unauthorized,
  4409: CARRIED_ON_ELSEWHERE,
  4410: ENDED_WORDS.call_over,
  4429: ENDED_WORDS.too_many_calls,
  4502: `The voice service is restarting. ${START_AGAIN_SHORTLY}`,
  4403: ENDED_WORDS.origin_refused,
  4404: ENDED_WORDS.customer_not_found,
  4503: ENDED_WORDS.agent_not_configured,
  1009: "The call was closed because a message was too large.",
};

// The page got back to its call after the server had let it go (the network was away longer
// than the server waits for the page): "The call has ended." alone reads as if someone hung up.
const ENDED_WHILE_AWAY = `The call ended while your connection was lost. ${CALL_US_AGAIN}`;

// Before a call could start: the worklet scripts or the WebSocket could not reach the server.
const UNREACHABLE_WORDS = "Can't reach the voice service. Check your internet connection and try again.";

// The browser could not start the call's audio. Start call stays on (nothing was spent) and
// makes new audio, so trying again is the advice. A reload can clear what a new try does not,
// but not where the page came from the app's one-use link: it took the link out of the
// address bar (app.js), and a reload would lose it.
const AUDIO_FAILED = "Your browser couldn't start audio for the call. Please try again.";
const AUDIO_FAILED_RELOAD_HINT =
  "Your browser couldn't start audio for the call. Please try again, or reload the page if it happens again.";

// `error` codes about a bad frame from this page (contract section 3).
const FRAME_ERRORS = new Set(["frame_too_large", "bad_json", "unknown_type", "odd_length"]);
// `error` codes that refuse a typed message (it never reached the agent).
const TEXT_REFUSALS = new Set(["rate_limited"]);

const MICROPHONE_WORDS = {
  denied:
    "Microphone permission was denied. Allow the microphone for this site in your browser's settings (the icon in the address bar), then start the call again.",
  missing: "No microphone was found. Connect one (or a headset) and start the call again.",
  busy: "The microphone is in use by another app or couldn't be started. Close other apps using it and try again.",
  insecure: "The microphone only works on a secure (https) page.",
  unsupported: "This browser can't capture the microphone. Try a recent Chrome, Edge, Firefox or Safari.",
};

/** The call's id, as the reference a customer quotes if they contact us about the call. The
 * reference keeps to one line (not cut at its hyphen) and a double click or a long press
 * selects it whole, to copy. */
export function showCallReference(callId) {
  const reference = document.createElement("span");
  reference.className = "call-reference";
  reference.textContent = callId;
  ui.callId.replaceChildren("Your call reference: ", reference);
}

export class Call {
  /**
   * Must be constructed inside the click that starts the call (see CallAudio). `query` names
   * the caller (see CallConnection); `onFinished(call)` runs once when the call is over.
   */
  constructor(query, onFinished) {
    this.query = query;
    this.onFinished = onFinished;
    this.audio = new CallAudio(config);
    this.captions = new Captions();
    this.speech = new SpeechGate({
      sendAudio: (pcm) => this.sendAudio(pcm),
      endTurn: () => {
        if (this.send({ type: "audio_end" })) debug.mic.audioEnds += 1;
      },
    });
    this.connection = null;
    this.opened = false;
    this.ready = false;
    this.reconnecting = false; // the server is changing its Live API session
    this.upstreamSlow = false; // ... and it has taken long enough to say so
    this.colleagueConnecting = false; // a colleague took the call; their voice not heard yet
    this.colleagueAwaited = false; // a warm escalation: a colleague is fetched to join the call
    this.upstreamTimer = null;
    this.pageResumed = false; // this page's own socket came back (`resumed` follows)
    this.muted = false;
    this.micLost = false; // the microphone stopped of itself (see onMicrophoneLost)
    this.finished = false;
    this.hangingUp = false;
    this.endReason = null;
    this.serverError = null; // the last `error` event
    this.ticketId = null;
    this.resumeToken = null; // from `ready`: how this page gets back to its call
    this.lineLostAt = null; // when the socket dropped, while trying to get back
    this.reconnectAttempts = 0;
    this.retryTimer = null; // the next try to get back to the call
    // The browser says its network is gone (Wi-Fi off, out of signal): the socket can still
    // look open for minutes while nothing gets through, the page saying "Listening" to a
    // customer nobody hears, and what they type lost. The line is taken for lost at once; and
    // once the network is back, the page tries at once rather than after its backoff.
    this.wentOffline = () => this.lineWentDown();
    this.cameOnline = () => this.lineCameBack();
    window.addEventListener("offline", this.wentOffline);
    window.addEventListener("online", this.cameOnline);
    this.askedToMove = false; // `reconnect` before `ready`: the server is stopping
    this.movingRetries = 0;
    this.queryUsed = false; // a socket opened with `query`: a one-use token is spent
    this.typedLines = []; // {line, text, at} of messages sent: one may yet be refused
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
        this.audio.startMicrophone(
          (frame) => this.onFrame(frame),
          () => this.onMicrophoneLost(),
        ),
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
      const fromALink = this.query.startsWith("token="); // see CallConnection
      this.finish(fromALink ? AUDIO_FAILED : AUDIO_FAILED_RELOAD_HINT, { error: true });
      return;
    }
    if (!this.finished) this.connect();
  }

  connect() {
    // Back to a call this page is on: its resume token, not the one-use session token.
    const query = this.resumeToken ? `resume=${encodeURIComponent(this.resumeToken)}` : this.query;
    let attempt = null; // the timer that gives up a try to get back to the call
    const connection = new CallConnection(query, {
      onOpen: () => {
        clearTimeout(attempt);
        this.opened = true;
        if (query === this.query) this.queryUsed = true;
        // Hung up while reconnecting: back on the call only to end it.
        if (this.hangingUp && this.send({ type: "end" })) {
          setTimeout(() => connection.close(1000), HANG_UP_GRACE_MS);
        }
      },
      onEvent: (event) => this.onEvent(event),
      onAudio: (pcm) => {
        this.keepRecent(pcm);
        this.audio.play(pcm);
      },
      // Only the current socket speaks for the call; one we let go of says nothing more.
      onClose: (event) => {
        clearTimeout(attempt);
        if (connection === this.connection) this.onClose(event);
      },
    });
    this.connection = connection;
    // Closing a socket still connecting ends it as a failed try (1006): onClose tries again,
    // or, for the first, says the service cannot be reached.
    const patience = this.lineLostAt !== null ? RECONNECT_ATTEMPT_MS : FIRST_CONNECT_MS;
    attempt = setTimeout(() => connection.close(), patience);
  }

  /** A copy of the latest audio received, for tests to check what reached the player. */
  keepRecent(pcm) {
    this.recent ??= [];
    this.recent.push(new Int16Array(pcm.slice(0)));
    let kept = this.recent.reduce((sum, chunk) => sum + chunk.length, 0);
    while (kept - this.recent[0].length >= DEBUG_RECENT_SAMPLES) kept -= this.recent.shift().length;
    debug.recentAudio = () => this.recent.flatMap((chunk) => Array.from(chunk)).slice(-DEBUG_RECENT_SAMPLES);
  }

  /** The socket is gone but the call goes on: get back to it, with backoff, while the
   * server keeps the call for us. A move the server asked for (`reconnect`) goes at once:
   * that server has let the call go, and the balancer sends us to another. */
  reconnectLine({ asked = false } = {}) {
    if (this.finished) return;
    const now = performance.now();
    this.lineLostAt ??= now;
    debug.reconnects += 1;
    if (now - this.lineLostAt > RECONNECT_GIVE_UP_MS) {
      this.finish(`The connection to the voice service was lost. ${START_AGAIN}`, { error: true });
      return;
    }
    this.refreshState();
    setTyping(false, TEXT_HINT_WAIT); // until `ready`: nothing typed meanwhile would arrive
    showMessage("info", navigator.onLine ? RECONNECTING : `${OFFLINE} ${RECONNECTING}`);
    const delay = asked && this.reconnectAttempts === 0
      ? 0
      : Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.reconnectAttempts);
    this.reconnectAttempts += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.finished && !this.hangingUp) this.connect();
    }, delay);
  }

  /** The browser lost its network during the call: the socket is let go (nothing gets
   * through it now) and the page tries to get back to the call as after a drop. */
  lineWentDown() {
    if (this.finished || this.hangingUp || !this.resumeToken || this.lineLostAt !== null) return;
    const old = this.connection;
    this.connection = null;
    if (old) old.close(1000);
    this.reconnectLine();
  }

  /** The network is back while the page tries to get back to its call: it tries now (a try
   * made while offline, still under way, cannot get through). */
  lineCameBack() {
    if (this.finished || this.lineLostAt === null) return;
    if (this.connection?.open) return; // a try got through: `ready` follows
    clearTimeout(this.retryTimer);
    const old = this.connection;
    this.connection = null;
    if (old) old.close(1000);
    this.connect();
  }

  /** Send audio (an ArrayBuffer) or an event; false when the call has no open socket. */
  send(message) {
    return this.connection !== null && this.connection.send(message);
  }

  /** A message the customer typed: sent, then captioned. False when it could not be sent. */
  sendText(text) {
    if (!this.send({ type: "text", text })) return false;
    this.typedLines.push({ line: this.captions.typed(text), text, at: performance.now() });
    if (this.typedLines.length > 10) this.typedLines.shift();
    return true;
  }

  /** The server refused a typed message: the latest one sent (the server answers at once). */
  textRefused() {
    const now = performance.now();
    const sent = this.typedLines.filter((typed) => now - typed.at < TYPED_ANSWER_MS);
    const refused = sent[sent.length - 1];
    if (!refused) return;
    this.typedLines.splice(this.typedLines.indexOf(refused), 1);
    this.captions.notSent(refused.line);
    if (!ui.textInput.value) ui.textInput.value = refused.text; // to send again as it is
  }

  // --- microphone ---

  onFrame({ pcm, level }) {
    if (this.finished || this.micLost) return;
    // The meter says she is heard: still while muted, and while the page's socket is down
    // (reconnecting, offline), when nothing she says reaches anyone.
    debug.mic.level = this.muted || this.lineLostAt !== null ? 0 : level;
    setMeter(debug.mic.level);
    if (this.muted) return;
    this.speech.frame(pcm, level, performance.now());
  }

  sendAudio(pcm) {
    if (!this.send(pcm)) return;
    const now = performance.now();
    debug.mic.framesSent += 1;
    debug.mic.bytesSent += pcm.byteLength;
    debug.mic.firstSentAt ??= now;
    debug.mic.lastSentAt = now;
  }

  /** The microphone stopped of itself: the customer is told at once, not left talking to a
   * page that says "Listening". Their turn ends (the agent need not wait for more speech);
   * typing still works. */
  onMicrophoneLost() {
    if (this.finished || this.micLost) return;
    this.micLost = true;
    debug.mic.level = 0;
    setMeter(0);
    if (!this.speech.paused) this.speech.pause();
    if (document.activeElement === ui.muteButton) {
      (ui.textInput.disabled ? ui.callButton : ui.textInput).focus();
    }
    // Nothing to mute, nor to unmute: the button is off, and reads as it does with no call
    // ("Unmute" would offer what the page cannot do). The alert says why.
    this.muted = false;
    ui.muteButton.disabled = true;
    ui.muteButton.classList.remove("is-active");
    ui.muteButton.textContent = "Mute";
    showMessage("error", MICROPHONE_LOST);
    this.refreshState();
  }

  toggleMute() {
    this.muted = !this.muted;
    // Its name says what it does ("Unmute"): aria-pressed as well would read "Unmute, pressed".
    ui.muteButton.classList.toggle("is-active", this.muted);
    ui.muteButton.textContent = this.muted ? "Unmute" : "Mute";
    // Muting ends the customer's turn: the agent need not wait for silence that never comes.
    if (this.muted && !this.speech.paused) this.speech.pause();
    if (this.muted) setMeter(0);
    if ([THROUGH, THROUGH_MUTED].includes(debug.message?.text)) {
      showMessage("info", this.muted ? THROUGH_MUTED : THROUGH);
    }
    this.refreshState();
  }

  // --- events from the server ---

  onEvent(event) {
    // The resume token is kept out: it re-attaches to the call for two minutes after it ends.
    const { resume_token: _kept, ...shown } = event;
    debug.events.push(shown);
    if (debug.events.length > DEBUG_EVENTS_KEPT) debug.events.shift();
    switch (event.type) {
      case "ready":
        this.ready = true;
        this.resumeToken = event.resume_token || this.resumeToken;
        if (this.hangingUp) break; // back only to say `end`
        setTyping(true, TEXT_HINT_CALL);
        if (this.lineLostAt !== null) {
          // Back on the same call (same id, captions kept): the server follows with `resumed`.
          this.lineLostAt = null;
          this.reconnectAttempts = 0;
          this.pageResumed = true;
          break;
        }
        debug.callId = event.call_id;
        showCallReference(event.call_id);
        ui.muteButton.disabled = this.micLost;
        if (!this.micLost) showMessage("info", THROUGH); // else what it says of the microphone stays
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
        this.captions.turnComplete();
        break;
      case "reconnecting":
        // The server's own session with the assistant: usually back before anyone notices.
        this.reconnecting = true;
        this.sayIfAssistantSlow();
        break;
      case "resumed":
        clearTimeout(this.upstreamTimer);
        if (this.hangingUp) break;
        if (this.pageResumed) {
          showMessage("info", this.stillWaiting("Back: the call resumed after a network blip."));
          this.captions.note("The call resumed after a network blip.");
        } else if (this.upstreamSlow) {
          showMessage("info", this.stillWaiting("Back: the call is connected again."));
        }
        this.reconnecting = this.upstreamSlow = this.pageResumed = false;
        setTimeout(() => {
          if (!debug.message?.text.startsWith("Back:")) return; // news since says more
          // A microphone that stopped stays stopped, and a colleague is still on the way:
          // what the page said of them holds.
          if (this.micLost) showMessage("error", MICROPHONE_LOST);
          else if (this.colleagueAwaited) showMessage("info", this.stayOnTheLine());
          else clearMessage();
        }, RESUMED_NOTICE_MS);
        break;
      case "escalated":
        this.ticketId = event.ticket_id;
        // The agent's own escalation already has an activity line naming the ticket.
        if (!captionsMention(event.ticket_id)) {
          this.captions.note(`A colleague will take over: your ticket number is ${event.ticket_id}.`);
        }
        // A warm escalation: a colleague is fetched to join this very call, so the customer
        // must not hang up. (When the assistant is lost instead, its notice and `ended` follow
        // at once and say a colleague will follow up.) The server says it once, not again
        // after a resume: the page keeps it until a colleague joins.
        this.colleagueAwaited = true;
        showMessage("info", this.stayOnTheLine());
        break;
      case "agent_changed":
        // A colleague took the call over (the assistant stops), or handed it back. The server
        // says it again after a resume: news only when it changes what the page shows.
        if (event.mode === "human" ? event.name === debug.talkingTo : !debug.talkingTo) break;
        this.captions.turnComplete(); // whatever the assistant was saying is over
        if (event.mode === "human") {
          this.upstreamSlow = false; // the assistant's reconnecting is no longer theirs to wait on
          this.colleagueAwaited = false;
          // Until their voice plays; then the line naming them (onPlayerStats), not both.
          this.colleagueConnecting = true;
          showMessage("info", `Connecting you to ${colleague(event.name)}…`);
          this.captions.note(`${colleague(event.name)}, joined the call.`);
          setTalkingTo(event.name, { heard: false });
        } else {
          // Back with the AI: said as such, as the colleague was said to be a person.
          showMessage("info", "You're back with the AI assistant.");
          this.captions.note(`${debug.talkingTo || "Our colleague"} handed you back to the AI assistant.`);
          this.colleagueConnecting = false;
          setTalkingTo(null);
          if (this.reconnecting) this.sayIfAssistantSlow(); // now the customer waits for it
        }
        break;
      case "error":
        if (FRAME_ERRORS.has(event.code)) {
          // This page's bugs, not the customer's: the call goes on.
          console.warn("voice: server error", event);
          break;
        }
        // Kept to say when the call ends (an `ended` or a close follows many of these).
        this.serverError = event;
        if (!this.ready || this.hangingUp) break;
        if (TEXT_REFUSALS.has(event.code)) this.textRefused();
        showMessage("info", event.message);
        break;
      case "reconnect":
        // The server is stopping: come back through the balancer, to another one.
        if (this.resumeToken) {
          const old = this.connection;
          this.connection = null;
          if (old) old.close(1000);
          this.reconnectLine({ asked: true });
        } else if (!this.ready) {
          this.askedToMove = true; // the close (4502) follows: try the call again (onClose)
        }
        break;
      case "ended":
        this.endReason = event.reason;
        debug.endReason = event.reason;
        if (!this.ready && LINK_GIVEN_BACK.has(event.reason)) this.queryUsed = false;
        break;
    }
    this.refreshState();
  }

  /** What the page asks while a colleague is fetched to join the call (`escalated`). */
  stayOnTheLine() {
    return `We're asking a colleague to join this call. Please stay on the line (ticket ${this.ticketId}).`;
  }

  /** `words` saying the call is back, and, while a colleague is still on the way, that the
   *  customer should stay on the line: the reconnecting notice took its place meanwhile. */
  stillWaiting(words) {
    return this.colleagueAwaited ? `${words} ${this.stayOnTheLine()}` : words;
  }

  /** Say the assistant is reconnecting if it is not back within UPSTREAM_QUIET_MS, unless a
   *  colleague holds the call then: the customer talks to them, not to the assistant. */
  sayIfAssistantSlow() {
    clearTimeout(this.upstreamTimer);
    this.upstreamTimer = setTimeout(() => {
      if (!this.reconnecting || this.finished || this.hangingUp || debug.talkingTo) return;
      this.upstreamSlow = true;
      showMessage("info", "Reconnecting to the assistant… the call is still on, hold on a moment.");
      this.refreshState();
    }, UPSTREAM_QUIET_MS);
  }

  onPlayerStats(stats) {
    Object.assign(debug.player, stats);
    if (stats.playing && debug.talkingTo && this.colleagueConnecting) {
      this.colleagueConnecting = false;
      if (debug.message?.text.startsWith("Connecting you to")) clearMessage();
      setTalkingTo(debug.talkingTo);
    }
    this.refreshState();
  }

  /** Whether whoever the customer talks to is speaking. The assistant's voice comes only
   * while it speaks; a colleague's microphone is open all the time they hold the call, its
   * silence played too: they speak while what plays can be heard. */
  speakerHeard() {
    return debug.talkingTo ? debug.player.audible : debug.player.playing;
  }

  refreshState() {
    if (this.finished) return;
    if (this.upstreamSlow || this.lineLostAt !== null) setState("reconnecting");
    else if (!this.ready) setState("connecting");
    else if (this.speakerHeard()) setState(debug.talkingTo ? "colleague" : "speaking");
    else if (this.micLost) setState("mic_lost");
    else setState(this.muted ? "muted" : "listening");
  }

  // --- ending ---

  /** The customer pressed "End call". */
  hangUp() {
    if (this.finished || this.hangingUp) return;
    this.hangingUp = true;
    this.audio.close(); // silence and mic off at once; the server's goodbye is only words
    if (this.send({ type: "end" })) {
      setTimeout(() => this.connection?.close(1000), HANG_UP_GRACE_MS);
    } else if (this.resumeToken && this.lineLostAt !== null) {
      // Reconnecting: without an `end` the server keeps the call for this page, then records
      // that the caller left. Get back to it to hang up (onOpen), but not for long.
      setTyping(false, TEXT_HINT_WAIT);
      showMessage("info", "Ending the call…");
      if (this.connection === null) this.connect(); // else the attempt under way says it
      setTimeout(() => this.finish(ENDED_WORDS.caller_hung_up), HANG_UP_RESUME_MS);
    } else {
      if (this.connection) this.connection.close(1000);
      this.finish(ENDED_WORDS.caller_hung_up);
    }
  }

  onClose(event) {
    debug.closeCode = event.code;
    debug.closeClean = event.wasClean;
    const moving = !this.ready && !this.resumeToken && (event.code === MOVING || this.askedToMove);
    if (moving) {
      // Refused before the call opened, by a server that is stopping: the token is unused.
      this.queryUsed = false;
      this.askedToMove = false;
      if (!this.hangingUp && this.movingRetries < MOVING_RETRIES_MS.length) {
        this.connection = null;
        setTimeout(() => {
          if (!this.finished && !this.hangingUp) this.connect();
        }, MOVING_RETRIES_MS[this.movingRetries++]);
        return;
      }
    }
    const callGoesOn = this.resumeToken && !this.endReason && !this.hangingUp;
    if (callGoesOn && !FINAL_CLOSE_CODES.has(event.code)) {
      this.connection = null;
      this.reconnectLine();
      return;
    }
    // The server ended the call: the agent's last words it sent are heard out (not when the
    // customer hung up: then silence at once is what they asked for).
    const lastWords = Boolean(this.endReason) && !this.hangingUp;
    this.finish(this.closeWords(event.code), { error: this.closeIsError(event.code), lastWords });
  }

  closeWords(code) {
    if (this.endedWhileAway(code)) return this.withTicket(ENDED_WHILE_AWAY);
    if (this.endReason) {
      let words = ENDED_WORDS[this.endReason];
      if (SERVER_WORDS_ENDINGS.has(this.endReason) && this.serverError?.code === this.endReason) {
        words = this.serverError.message;
      }
      // A reason this page has no words for yet: still plain words, never the code.
      words ||= this.ready ? ENDED_WORDS.call_over : `The call couldn't start. ${TRY_AGAIN}`;
      return this.withTicket(words);
    }
    if (this.hangingUp) return ENDED_WORDS.caller_hung_up;
    if (CLOSE_WORDS[code]) return CLOSE_WORDS[code];
    // e.g. error{unavailable} then close 4500: the database was unreachable at connect.
    if (this.serverError) return this.serverError.message;
    if (!this.opened) return UNREACHABLE_WORDS;
    return `The connection to the voice service was lost. ${START_AGAIN}`;
  }

  /** Trying to get back to the call, the page was told it is over (`call_over`, or only its
   * close code): the server let it go while the connection was lost. */
  endedWhileAway(code) {
    if (this.lineLostAt === null || this.hangingUp) return false;
    return this.endReason === "call_over" || (!this.endReason && code === CALL_OVER);
  }

  withTicket(words) {
    if (!this.ticketId || words.includes(this.ticketId)) return words;
    return `${words} A colleague will follow up on ticket ${this.ticketId}.`;
  }

  closeIsError(code) {
    if (this.endReason) return !INFO_ENDINGS.has(this.endReason);
    return !this.hangingUp;
  }

  /** The call is over: the page says so at once. The microphone is released at once; the
   * player too, unless `lastWords`: then it plays out what it holds first (see CallAudio). */
  finish(words, { error = false, lastWords = false } = {}) {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.upstreamTimer);
    clearTimeout(this.retryTimer);
    window.removeEventListener("offline", this.wentOffline);
    window.removeEventListener("online", this.cameOnline);
    if (lastWords) this.audio.closeAfterPlaying(LAST_WORDS_MAX_MS);
    else this.audio.close();
    if (this.connection) this.connection.close(1000);
    setMeter(0);
    setState(this.ready ? "ended" : "failed");
    showMessage(error ? "error" : "info", words);
    this.onFinished(this);
  }
}
