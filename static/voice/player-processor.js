// Plays the agent's voice: PCM16 mono chunks at 24 kHz from the page, through a small
// jitter buffer, flushed at once when the customer barges in.
//
// It runs in an AudioContext created at 24 kHz, so one received sample is one played sample.
//
// From the page: {type: "audio", pcm: ArrayBuffer (Int16)}, {type: "flush"} (drop everything
// not yet played), {type: "drain"} (the turn is over: play what is buffered, however little),
// {type: "finish"} (the call is over: play what is buffered, then say "finished").
// To the page: {type: "stats", received, played, flushed, buffered, underruns, playing}
// (sample counts), whenever something changed, at most every few render quanta, and at once
// after a flush or when playback starts or stops; {type: "finished"} once, after "finish",
// when nothing is left to play (its last stats just before).

const PREBUFFER_SAMPLES = 1920; // 80 ms: rides out network jitter without audible lag
// A reply shorter than the prebuffer still plays once nothing more has arrived for this long
// (in 128-sample render quanta: ~100 ms at 24 kHz).
const START_ANYWAY_QUANTA = 19;
const STATS_EVERY_QUANTA = 8; // ~43 ms at 24 kHz

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
    });
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
