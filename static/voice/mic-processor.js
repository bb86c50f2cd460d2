// The microphone, as the voice bridge wants it: mono, 16 kHz, PCM16, in 20 ms frames.
//
// The AudioContext runs at whatever rate the device has (usually 48 kHz, sometimes 44.1 kHz),
// so the signal is low-pass filtered before it is resampled: dropping samples without it
// folds everything above 8 kHz (sibilants, fan noise) back down into the speech band.
//
// Posts to the page: {type: "frame", pcm: ArrayBuffer (Int16, little-endian), level: RMS 0..1}.

const TARGET_RATE = 16000;
const FRAME_SAMPLES = 320; // 20 ms at 16 kHz: the bridge accepts 20-40 ms frames
// Pass band up to 7 kHz (all of speech), stop band from 8 kHz (the new Nyquist) on: the
// Blackman window's transition is about 5.5 * rate / taps wide, so the tap count follows.
const CUTOFF_HZ = 7000;
const TRANSITION_HZ = 1000;
const BLACKMAN_TRANSITION = 5.5;

/** A linear-phase low-pass FIR (windowed sinc, Blackman window), normalised to unit gain. */
function lowPassTaps(rate) {
  // Guard for a context slower than 16 kHz: keep the cutoff under its own Nyquist.
  const cutoff = Math.min(CUTOFF_HZ, 0.45 * rate);
  let count = Math.ceil((BLACKMAN_TRANSITION * rate) / TRANSITION_HZ);
  if (count % 2 === 0) count += 1; // odd: the centre tap sits on a sample
  const taps = new Float32Array(count);
  const middle = (count - 1) / 2;
  const fc = cutoff / rate;
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const x = k - middle;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const window =
      0.42 -
      0.5 * Math.cos((2 * Math.PI * k) / (count - 1)) +
      0.08 * Math.cos((4 * Math.PI * k) / (count - 1));
    taps[k] = sinc * window;
    sum += taps[k];
  }
  for (let k = 0; k < count; k++) taps[k] /= sum;
  return taps;
}

class MicProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
    this.taps = lowPassTaps(sampleRate);
    this.half = (this.taps.length - 1) / 2;
    // Input history: a power-of-two ring holding the filter's span plus a few render quanta.
    let size = 1;
    while (size < this.taps.length + 1024) size *= 2;
    this.ring = new Float32Array(size);
    this.mask = size - 1;
    this.written = 0; // input samples ever written
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.position = this.half; // next output, in input samples (first full filter window)
    this.startFrame();
  }

  startFrame() {
    this.frame = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
    this.sumSquares = 0;
  }

  /** The filtered signal at input sample `centre` (its whole window is in the ring). */
  filtered(centre) {
    const { taps, ring, mask } = this;
    const start = centre - this.half;
    let y = 0;
    for (let k = 0; k < taps.length; k++) y += taps[k] * ring[(start + k) & mask];
    return y;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = Math.round(clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff);
    this.sumSquares += clamped * clamped;
    if (this.filled === FRAME_SAMPLES) {
      const level = Math.sqrt(this.sumSquares / FRAME_SAMPLES);
      this.port.postMessage({ type: "frame", pcm: this.frame.buffer, level }, [this.frame.buffer]);
      this.startFrame();
    }
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no input connected (yet)
    const length = channels[0].length;
    // Mono: the average of whatever channels the device gives.
    for (let i = 0; i < length; i++) {
      let sample = 0;
      for (let c = 0; c < channels.length; c++) sample += channels[c][i];
      this.ring[this.written & this.mask] = sample / channels.length;
      this.written++;
    }
    // Each output sample needs the filter window around it, and around its right-hand
    // neighbour when it falls between two input samples (44.1 kHz: linear interpolation of
    // the already band-limited signal).
    while (Math.floor(this.position) + 1 + this.half < this.written) {
      const index = Math.floor(this.position);
      const fraction = this.position - index;
      let value = this.filtered(index);
      if (fraction > 1e-9) value += fraction * (this.filtered(index + 1) - value);
      this.emit(value);
      this.position += this.step;
    }
    return true;
  }
}

registerProcessor("mic-processor", MicProcessor);
