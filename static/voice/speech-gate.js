// When the customer's turn is over: the microphone "pauses" after a second below speech level,
// which lets the agent answer without waiting for its own end-of-speech timeout. No DOM, no
// socket: the gate is told each frame and answers through its two callbacks.

const SPEECH_LEVEL = 0.01; // RMS of a 20 ms frame, 0..1 (about -40 dBFS)
const SILENCE_HOLD_MS = 1000;
// While paused, frames are held back; the last few are sent when speech resumes so that the
// start of the first word is not clipped.
const PREROLL_FRAMES = 10; // 200 ms

export class SpeechGate {
  /** `sendAudio(pcm)` forwards a frame; `endTurn()` says the customer stopped speaking. */
  constructor({ sendAudio, endTurn }) {
    this.sendAudio = sendAudio;
    this.endTurn = endTurn;
    this.paused = false;
    this.heardSpeech = false;
    this.lastSpeechAt = 0;
    this.preroll = [];
  }

  /** One 20 ms frame of the microphone (`level` its RMS) at `now` (performance.now()). */
  frame(pcm, level, now) {
    if (level >= SPEECH_LEVEL) {
      this.heardSpeech = true;
      this.lastSpeechAt = now;
      if (this.paused) {
        this.paused = false;
        for (const held of this.preroll) this.sendAudio(held);
        this.preroll = [];
      }
    } else if (!this.paused && this.heardSpeech && now - this.lastSpeechAt >= SILENCE_HOLD_MS) {
      this.pause();
    }
    if (this.paused) {
      this.preroll.push(pcm);
      if (this.preroll.length > PREROLL_FRAMES) this.preroll.shift();
    } else {
      this.sendAudio(pcm);
    }
  }

  /** End the customer's turn now (silence, or the mute button); speech un-pauses. */
  pause() {
    this.paused = true;
    this.preroll = [];
    this.endTurn();
  }
}
