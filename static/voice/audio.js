// The call's audio plumbing: the microphone into mic-processor, the agent's voice through
// player-processor. No call state lives here; call.js decides what to do with frames and stats.

/** Why the microphone could not be opened, in words call.js can show. */
export class MicrophoneError extends Error {
  /** @param {"denied"|"missing"|"busy"|"insecure"|"unsupported"} kind */
  constructor(kind, cause) {
    super(`microphone: ${kind}`, { cause });
    this.kind = kind;
  }
}

const PLAYBACK_RATE = 24000; // the agent's voice arrives as 24 kHz PCM16
// A phone suspends a hidden page's audio (Safari's state for it is "interrupted") and does not
// resume it when the page is shown again: the call would go on deaf and mute. Showing the
// page resumes it where the browser allows; a touch or a key press (a gesture) always may:
// the events that count as one (HTML's activation-triggering events; a touch's is its end).
const RESUMED_ON = ["pointerdown", "pointerup", "keydown"];
const STOPPED = new Set(["suspended", "interrupted"]);

function microphoneError(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new MicrophoneError("denied", error);
    case "NotFoundError":
    case "OverconstrainedError":
      return new MicrophoneError("missing", error);
    case "NotReadableError":
    case "AbortError":
      return new MicrophoneError("busy", error);
    default:
      return new MicrophoneError("unsupported", error);
  }
}

export class CallAudio {
  /**
   * Must be constructed inside the click that starts the call: browsers only let an
   * AudioContext make sound when it was created (or resumed) by a user gesture.
   */
  constructor({ micWorkletUrl, playerWorkletUrl }) {
    this.micWorkletUrl = micWorkletUrl;
    this.playerWorkletUrl = playerWorkletUrl;
    // The microphone runs at the device's own rate (mic-processor resamples); playback runs
    // at 24 kHz so the agent's samples need no resampling in JavaScript.
    this.micContext = new AudioContext({ latencyHint: "interactive" });
    this.playContext = new AudioContext({ latencyHint: "interactive", sampleRate: PLAYBACK_RATE });
    this.micContext.resume();
    this.playContext.resume();
    this.wake = () => {
      if (document.visibilityState === "visible") this.resumeStopped();
    };
    document.addEventListener("visibilitychange", this.wake);
    for (const type of RESUMED_ON) window.addEventListener(type, this.wake, true);
    this.stream = null;
    this.micNode = null;
    this.playerNode = null;
    this.onStats = null;
    this.playingOut = null; // the timer that ends closeAfterPlaying() at its limit
  }

  /** Ask for the microphone (the permission prompt, if any, happens here). */
  async openMicrophone() {
    if (!window.isSecureContext) throw new MicrophoneError("insecure");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new MicrophoneError("unsupported");
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          channelCount: 1,
          // The agent's voice comes out of the speakers; without echo cancellation it would
          // hear itself and interrupt itself.
          echoCancellation: true,
          noiseSuppression: true,
          autoGainControl: true,
        },
      });
    } catch (error) {
      throw microphoneError(error);
    }
  }

  /**
   * Start capturing: `onFrame({pcm, level})` gets each 20 ms, 16 kHz PCM16 frame, and
   * `onLost()` is called once if the microphone stops of itself (unplugged, or its permission
   * taken back): nothing more is heard from it then.
   */
  async startMicrophone(onFrame, onLost) {
    await this.micContext.audioWorklet.addModule(this.micWorkletUrl);
    // The browser ends the track then (close() stopping it does not count).
    for (const track of this.stream.getAudioTracks()) {
      if (track.readyState === "ended") onLost();
      else track.addEventListener("ended", () => onLost(), { once: true });
    }
    const source = this.micContext.createMediaStreamSource(this.stream);
    // No outputs: the processor only reports to the page; nothing of the microphone is played.
    this.micNode = new AudioWorkletNode(this.micContext, "mic-processor", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
    });
    this.micNode.port.onmessage = (event) => {
      if (event.data.type === "frame") onFrame(event.data);
    };
    source.connect(this.micNode);
    return this.micContext.sampleRate;
  }

  /** Start the player: `onStats(stats)` gets its counters (see player-processor.js). */
  async startPlayer(onStats) {
    await this.playContext.audioWorklet.addModule(this.playerWorkletUrl);
    this.playerNode = new AudioWorkletNode(this.playContext, "player-processor", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.onStats = onStats;
    this.playerNode.port.onmessage = (event) => {
      if (event.data.type === "stats") onStats(event.data);
      else if (event.data.type === "finished") this.playedOut();
    };
    this.playerNode.connect(this.playContext.destination);
  }

  toPlayer(message, transfer = []) {
    if (this.playerNode) this.playerNode.port.postMessage(message, transfer);
  }

  /** Queue agent audio (the ArrayBuffer is handed over, not copied). */
  play(pcm) {
    this.toPlayer({ type: "audio", pcm }, [pcm]);
  }

  /** Drop all agent audio not yet played (barge-in). */
  flush() {
    this.toPlayer({ type: "flush" });
  }

  /** The agent's turn is over: play out whatever is buffered. */
  drain() {
    this.toPlayer({ type: "drain" });
  }

  /** Resume the contexts the browser stopped (never one the call closed). */
  resumeStopped() {
    for (const context of [this.micContext, this.playContext]) {
      // Rejected outside a gesture where the browser wants one: the next gesture tries again.
      if (STOPPED.has(context.state)) context.resume().catch(() => {});
    }
  }

  /** Release the microphone (the browser's recording indicator goes off) and the speakers. */
  close() {
    this.closeMicrophone();
    this.closeSpeakers();
  }

  /**
   * The call is over, but the agent's last words may still be in the player (they arrive
   * faster than they play): release the microphone at once, and the speakers once the player
   * has played what it holds, or after `limitMs` at most. close() still silences it at once.
   */
  closeAfterPlaying(limitMs) {
    this.closeMicrophone();
    if (!this.playerNode) {
      this.closeSpeakers();
      return;
    }
    if (this.playingOut !== null) return;
    this.playingOut = setTimeout(() => this.closeSpeakers(), limitMs);
    this.toPlayer({ type: "finish" });
  }

  /** The player has played all it held (after closeAfterPlaying()). */
  playedOut() {
    if (this.playingOut === null) return;
    // What the player last wrote is still on its way to the speakers.
    const latency = (this.playContext.outputLatency || 0) + (this.playContext.baseLatency || 0);
    clearTimeout(this.playingOut);
    this.playingOut = setTimeout(() => this.closeSpeakers(), Math.ceil(latency * 1000) + 50);
  }

  closeMicrophone() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.micNode = null;
    // close() rejects on a context that is already closed; closing twice is fine here.
    this.micContext.close().catch(() => {});
  }

  closeSpeakers() {
    // The speakers close last (the microphone at once, or before them): nothing to resume.
    document.removeEventListener("visibilitychange", this.wake);
    for (const type of RESUMED_ON) window.removeEventListener(type, this.wake, true);
    clearTimeout(this.playingOut);
    this.playingOut = null;
    if (this.playerNode) {
      this.playerNode.port.onmessage = null; // its last counters are no one's now
      this.playerNode = null;
      this.onStats({ closed: true });
    }
    this.playContext.close().catch(() => {});
  }
}
