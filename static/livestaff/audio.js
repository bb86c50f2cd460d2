// A live call's audio in a staff member's browser: one player per source (the customer, the
// agent, a colleague holding the call), each an AudioWorklet player-processor in a context at
// that source's rate, with a level for its meter; and, while taking over, the microphone
// through the voice page's own capture (voice/audio.js, mic-processor: 16 kHz PCM16 frames).

import { CallAudio } from "../voice/audio.js";

// Contract section 8: the first byte of a frame names its source; the rest is PCM16 mono.
export const SOURCES = {
  C: { name: "customer", rate: 16000 },
  A: { name: "agent", rate: 24000 },
  H: { name: "colleague", rate: 16000 },
};
const RECENT_SAMPLES = 4800; // what a test may read back (window.liveCallDebug.recent)

/** RMS (0..1) to a 0..1 meter on a -60..0 dBFS scale, as the voice page's meter reads. */
export function meterValue(level) {
  const db = level > 0 ? 20 * Math.log10(level) : -60;
  return Math.max(0, Math.min(1, (db + 60) / 60));
}

class SourcePlayer {
  constructor(context, workletUrl) {
    this.context = context;
    this.workletUrl = workletUrl;
    this.node = null;
    this.level = 0;
    this.stats = { received: 0, played: 0, flushed: 0, buffered: 0, underruns: 0, playing: false };
    this.recent = new Int16Array(RECENT_SAMPLES);
    this.recentEnd = 0; // samples ever kept
  }

  async start() {
    this.node = new AudioWorkletNode(this.context, "player-processor", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.node.port.onmessage = (event) => {
      if (event.data.type === "stats") Object.assign(this.stats, event.data);
    };
    this.node.connect(this.context.destination);
  }

  /** One frame (an ArrayBuffer of PCM16, handed over); `audible` false keeps it silent
   * (a colleague's own voice, coming back). */
  play(pcm, audible) {
    const samples = new Int16Array(pcm);
    let sum = 0;
    for (let i = 0; i < samples.length; i++) {
      sum += (samples[i] / 0x8000) ** 2;
      this.recent[this.recentEnd++ % RECENT_SAMPLES] = samples[i];
    }
    this.level = samples.length ? Math.sqrt(sum / samples.length) : 0;
    if (audible && this.node) this.node.port.postMessage({ type: "audio", pcm }, [pcm]);
  }

  /** The last samples received, oldest first (for tests). */
  recentSamples() {
    const count = Math.min(this.recentEnd, RECENT_SAMPLES);
    const out = [];
    for (let i = this.recentEnd - count; i < this.recentEnd; i++) out.push(this.recent[i % RECENT_SAMPLES]);
    return out;
  }
}

export class ListeningAudio {
  /** Must be constructed inside the click that starts listening (browsers only let an
   * AudioContext make sound when a user gesture created it). */
  constructor(playerWorkletUrl) {
    this.contexts = new Map(); // rate -> AudioContext
    this.players = {};
    for (const [source, { rate }] of Object.entries(SOURCES)) {
      if (!this.contexts.has(rate)) {
        const context = new AudioContext({ latencyHint: "interactive", sampleRate: rate });
        context.resume();
        this.contexts.set(rate, context);
      }
      this.players[source] = new SourcePlayer(this.contexts.get(rate), playerWorkletUrl);
    }
    this.ready = Promise.all(
      Array.from(this.contexts.values(), (context) => context.audioWorklet.addModule(playerWorkletUrl)),
    ).then(() => Promise.all(Object.values(this.players).map((player) => player.start())));
  }

  /** A binary frame from the call: its first byte names the source. */
  frame(data, { mine }) {
    const source = String.fromCharCode(new Uint8Array(data, 0, 1)[0]);
    const player = this.players[source];
    if (!player) return;
    player.play(data.slice(1), !(source === "H" && mine));
  }

  close() {
    for (const context of this.contexts.values()) context.close().catch(() => {});
    this.contexts.clear();
  }
}

/** The staff member's microphone while they hold the call: `onFrame(pcm, level)` per 20 ms. */
export class Microphone {
  constructor(micWorkletUrl, playerWorkletUrl) {
    // The voice page's capture, reused whole: its player is not started.
    this.audio = new CallAudio({ micWorkletUrl, playerWorkletUrl });
    this.closed = false;
  }

  /** Throws voice/audio.js's MicrophoneError (denied, missing, busy, …). Closed while the
   * browser was opening it: the microphone it then gets is released at once. */
  async start(onFrame) {
    await this.audio.openMicrophone();
    if (this.closed) {
      this.audio.close();
      return;
    }
    await this.audio.startMicrophone(({ pcm, level }) => onFrame(pcm, level));
  }

  close() {
    this.closed = true;
    this.audio.close();
  }
}
