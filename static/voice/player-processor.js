// Plays the agent's voice: PCM16 mono chunks at 24 kHz from the page, through a small
// jitter buffer, flushed at once when the customer barges in.
//
// It runs in an AudioContext created at 24 kHz, so one received sample is one played sample.
//
// From the page: {type: "audio", pcm: ArrayBuffer (Int16)}, {type: "flush"} (drop everything
// not yet played), {type: "drain"} (the turn is over: play what is buffered, however little),
// {type: "finish"} (the call is over: play what is buffered, then say "finished").
// To the page: {type: "stats", received, played, flushed, buffered, underruns, playing,
// audible} (sample counts), whenever something changed, at most every few render quanta, and
// at once after a flush or when playback starts or stops or turns audible or quiet;
// {type: "finished"} once, after "finish", when nothing is left to play (its last stats just
// before). `audible`: what plays can be heard (a colleague's open microphone plays silence).

const PREBUFFER_SAMPLES = 1920; // 80 ms: rides out network jitter without audible lag
// A reply shorter than the prebuffer still plays once nothing more has arrived for this long
// (in 128-sample render quanta: ~100 ms at 24 kHz).
const START_ANYWAY_QUANTA = 19;
const STATS_EVERY_QUANTA = 8; // ~43 ms at 24 kHz
// Audible: a render quantum's RMS (0..1) at or above this (about -46 dBFS; speech is -30 to
// -20), or one was within the hold, so that the pauses between words still count as speech.
const AUDIBLE_LEVEL = 0.005;
const AUDIBLE_HOLD_QUANTA = 113; // ~0.6 s at 24 kHz

class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // Float32Array chunks, oldest first
    this.offset = 0; // samples of queue[0] already played
    this.buffered = 0;
    this.playing = false;
    this.draining = false;
    this.finishing = false;
    this.quantaSinceAudio = 0;
    this.quanta = 0;
    this.heardAt = null; // the last render quantum that was audible
    this.audible = false;
    this.changed = false;
    this.counters = { received: 0, played: 0, flushed: 0, underruns: 0 };
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(message) {
    switch (message.type) {
      case "audio": {
        const pcm = new Int16Array(message.pcm);
        const chunk = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 0x8000;
        this.queue.push(chunk);
        this.buffered += chunk.length;
        this.counters.received += chunk.length;
        this.quantaSinceAudio = 0;
        this.draining = false; // audio after a turn's end belongs to the next turn
        this.changed = true;
        break;
      }
      case "flush":
        this.counters.flushed += this.buffered;
        this.queue = [];
        this.offset = 0;
        this.buffered = 0;
        this.draining = false;
        this.playing = false;
        this.audible = false;
        this.heardAt = null;
        this.postStats();
        break;
      case "drain":
        this.draining = true;
        break;
      case "finish":
        this.draining = true;
        this.finishing = true;
        break;
    }
  }

  postStats() {
    this.changed = false;
    this.port.postMessage({
      type: "stats",
      ...this.counters,
      buffered: this.buffered,
      playing: this.playing,
      audible: this.audible,
    });
  }

  /** Whether what was just played (`out[0..written)`) keeps the sound audible. */
  updateAudible(out, written) {
    let sumSquares = 0;
    for (let i = 0; i < written; i++) sumSquares += out[i] * out[i];
    if (written > 0 && Math.sqrt(sumSquares / written) >= AUDIBLE_LEVEL) this.heardAt = this.quanta;
    // Held across a short underrun too: a voice carried by the network has gaps.
    const audible = this.heardAt !== null && this.quanta - this.heardAt < AUDIBLE_HOLD_QUANTA;
    if (audible !== this.audible) {
      this.audible = audible;
      this.postStats();
    }
  }

  setPlaying(playing) {
    if (this.playing !== playing) {
      this.playing = playing;
      this.postStats();
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (
      !this.playing &&
      this.buffered > 0 &&
      (this.buffered >= PREBUFFER_SAMPLES ||
        this.draining ||
        this.quantaSinceAudio >= START_ANYWAY_QUANTA)
    ) {
      this.setPlaying(true);
    }
    let written = 0;
    if (this.playing) {
      while (written < out.length && this.queue.length > 0) {
        const chunk = this.queue[0];
        const count = Math.min(out.length - written, chunk.length - this.offset);
        out.set(chunk.subarray(this.offset, this.offset + count), written);
        written += count;
        this.offset += count;
        if (this.offset === chunk.length) {
          this.queue.shift();
          this.offset = 0;
        }
      }
      this.buffered -= written;
      this.counters.played += written;
      this.changed = this.changed || written > 0;
      if (this.buffered === 0) {
        // Ran dry: the end of a turn, or the network fell behind (an underrun). Either way
        // wait for the prebuffer again rather than stutter sample by sample.
        if (!this.draining) this.counters.underruns += 1;
        this.draining = false;
        this.setPlaying(false);
      }
    }
    out.fill(0, written);
    this.updateAudible(out, written);
    this.quantaSinceAudio += 1;
    this.quanta += 1;
    if (this.finishing && this.buffered === 0) {
      this.finishing = false;
      this.postStats();
      this.port.postMessage({ type: "finished" });
    } else if (this.changed && this.quanta % STATS_EVERY_QUANTA === 0) {
      this.postStats();
    }
    return true;
  }
}

registerProcessor("player-processor", PlayerProcessor);
