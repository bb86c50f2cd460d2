"""The phone audio path: µ-law bit-exact with audioop, streaming resamplers, outbound framing."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from realtime.audio import (
    TWILIO_FRAME_BYTES,
    ULAW_SILENCE,
    FrameChunker,
    Pcm16Array,
    Resampler8kTo16k,
    Resampler24kTo8k,
    StreamResampler,
    kaiser_lowpass,
    pcm16_from_bytes,
    pcm16_to_bytes,
    ulaw_decode,
    ulaw_encode,
)
from voiceproject.tests.signals import tone

with warnings.catch_warnings():
    # audioop is the G.711 reference here only; product code never imports it.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM16 = np.arange(-32768, 32768).astype(np.int16)
ALL_CODES = bytes(range(256))


LEVEL = 16_000  # the test tones' amplitude: half of full scale


def stream_in_chunks(
    resampler: StreamResampler, samples: Pcm16Array, sizes: list[int]
) -> list[Pcm16Array]:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(resampler.process(samples[start : start + size]))
        start += size
    return chunks


def rms(x: npt.NDArray[np.floating] | Pcm16Array) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def snr_against_delayed_tone(out: Pcm16Array, freq: float, rate: int, delay_s: float) -> float:
    t = np.arange(len(out)) / rate - delay_s
    ideal = LEVEL * np.sin(2 * np.pi * freq * t)
    settled = slice(rate // 10, None)  # skip the filter's start-up transient
    noise = out[settled] - ideal[settled]
    return 20 * np.log10(rms(ideal[settled]) / rms(noise))


# --- µ-law ------------------------------------------------------------------------------------


def test_ulaw_encode_matches_audioop_on_every_pcm16_value() -> None:
    assert ulaw_encode(ALL_PCM16) == audioop.lin2ulaw(ALL_PCM16.tobytes(), 2)


def test_ulaw_decode_matches_audioop_on_every_code() -> None:
    assert ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_ulaw_encode_takes_little_endian_bytes_too() -> None:
    assert ulaw_encode(pcm16_to_bytes(ALL_PCM16)) == ulaw_encode(ALL_PCM16)


def test_ulaw_silence_is_what_zero_encodes_to() -> None:
    assert ulaw_encode(np.zeros(3, np.int16)) == bytes([ULAW_SILENCE]) * 3
    assert ulaw_decode(bytes([ULAW_SILENCE])).tolist() == [0]


def test_ulaw_decode_returns_one_int16_sample_per_byte() -> None:
    samples = ulaw_decode(b"\x00\x7f\x80\xff")
    assert samples.dtype == np.int16
    assert samples.tolist() == [-32124, 0, 32124, 0]


# --- PCM16 helpers -------------------------------------------------------------------------------


def test_pcm16_bytes_round_trip_little_endian() -> None:
    assert pcm16_from_bytes(b"\x01\x00\xff\xff\x00\x80").tolist() == [1, -1, -32768]
    assert pcm16_to_bytes(np.array([1, -1, -32768], np.int16)) == b"\x01\x00\xff\xff\x00\x80"


def test_pcm16_with_an_odd_number_of_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm16_from_bytes(b"\x00\x01\x02")


def test_resampler_refuses_samples_that_are_not_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        Resampler8kTo16k().process(np.zeros(160, np.float32))


# --- Resampling: lengths -----------------------------------------------------------------------


def test_8k_to_16k_gives_exactly_320_samples_per_20ms_frame() -> None:
    resampler = Resampler8kTo16k()
    for _ in range(50):
        assert len(resampler.process(np.zeros(160, np.int16))) == 320


def test_24k_to_8k_gives_exactly_160_samples_per_20ms_frame() -> None:
    resampler = Resampler24kTo8k()
    for _ in range(50):
        assert len(resampler.process(np.zeros(480, np.int16))) == 160


def resampler_24k_to_16k() -> StreamResampler:
    return StreamResampler(24000, 16000)  # the agent's side of a recording


def resampler_16k_to_24k() -> StreamResampler:
    return StreamResampler(16000, 24000)  # a colleague holding a call, to the caller


RESAMPLERS = [Resampler8kTo16k, Resampler24kTo8k, resampler_24k_to_16k, resampler_16k_to_24k]


@pytest.mark.parametrize(
    "make, up, down",
    [
        (Resampler8kTo16k, 2, 1),
        (Resampler24kTo8k, 1, 3),
        (resampler_24k_to_16k, 2, 3),
        (resampler_16k_to_24k, 3, 2),
    ],
)
def test_output_length_is_exact_over_a_stream_of_arbitrary_chunks(
    make: Callable[[], StreamResampler], up: int, down: int
) -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(0, 1000, size=400).tolist()
    resampler, total_in, total_out = make(), 0, 0
    reach = (up - 1) * down // up  # how far into a step its last output reads
    for size in sizes:
        total_in += size
        total_out += len(resampler.process(np.zeros(size, np.int16)))
        # Never more and never held back: every step whose input has come has been produced.
        steps = (total_in - 1 - reach) // down + 1 if total_in > reach else 0
        assert total_out == up * steps
        if reach == 0:  # whole-number ratios: exactly what the rates say
            assert total_out == -(-total_in * up // down)


def test_3_to_2_gives_exactly_320_samples_per_20ms_frame() -> None:
    resampler = resampler_24k_to_16k()
    for _ in range(50):
        assert len(resampler.process(np.zeros(480, np.int16))) == 320


def test_2_to_3_gives_exactly_480_samples_per_20ms_frame() -> None:
    resampler = resampler_16k_to_24k()
    for _ in range(50):
        assert len(resampler.process(np.zeros(320, np.int16))) == 480


def test_chunk_boundaries_do_not_change_the_output() -> None:
    signal = tone(1000, 1.0, 24000, amplitude=LEVEL) + tone(7000, 1.0, 24000, amplitude=5000)
    whole = Resampler24kTo8k().process(signal)
    sizes = np.random.default_rng(4).integers(1, 700, size=200)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), len(signal))].tolist()
    sizes.append(len(signal) - sum(sizes))
    pieces = np.concatenate(stream_in_chunks(Resampler24kTo8k(), signal, sizes))
    assert np.array_equal(pieces, whole)


@pytest.mark.parametrize("make", RESAMPLERS)
def test_streaming_output_is_the_textbook_resample(make: Callable[[], StreamResampler]) -> None:
    # What the block matrix product computes: zero-stuff by L, convolve with the taps, keep
    # every M-th sample, round and saturate. To 1 LSB, as floats are summed in another order.
    resampler = make()
    common = math.gcd(resampler.in_rate, resampler.out_rate)
    up, down = resampler.out_rate // common, resampler.in_rate // common
    low = min(resampler.in_rate, resampler.out_rate)
    taps = kaiser_lowpass(resampler.num_taps, low / 2, resampler.in_rate * up, gain=up)
    rng = np.random.default_rng(5)
    signal = np.clip(rng.standard_normal(resampler.in_rate) * 12000, -32768, 32767).astype(np.int16)
    stuffed = np.zeros(len(signal) * up)
    stuffed[::up] = signal
    textbook = np.convolve(stuffed, taps)[::down][: -(-len(stuffed) // down)]
    expected = np.clip(np.rint(textbook), -32768, 32767).astype(np.int16)
    sizes = rng.integers(0, 500, size=200)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), len(signal))].tolist()
    sizes.append(len(signal) - sum(sizes))
    streamed = np.concatenate(stream_in_chunks(resampler, signal, sizes))
    assert len(streamed) == len(expected)
    assert np.abs(streamed.astype(np.int32) - expected).max() <= 1


def test_bytes_in_give_bytes_out() -> None:
    out = Resampler8kTo16k().process(bytes(320))
    assert isinstance(out, bytes)
    assert out == bytes(640)


# --- Resampling: quality -----------------------------------------------------------------------


@pytest.mark.parametrize("make", RESAMPLERS)
def test_a_1khz_tone_survives(make: Callable[[], StreamResampler]) -> None:
    resampler = make()
    signal = tone(1000, 1.0, resampler.in_rate, amplitude=LEVEL)
    out = np.concatenate([resampler.process(f) for f in np.split(signal, 50)])
    delay_s = resampler.delay_ms / 1000
    assert snr_against_delayed_tone(out, 1000, resampler.out_rate, delay_s) > 60


@pytest.mark.parametrize("freq", [9200, 10000, 11900])
def test_an_out_of_band_tone_is_removed_going_24k_to_16k(freq: float) -> None:
    # Above the 16 kHz side's Nyquist plus the transition band: 10 kHz would alias to 6 kHz.
    signal = tone(freq, 1.0, 24000, amplitude=LEVEL)
    out = resampler_24k_to_16k().process(signal)[800:]
    assert 20 * np.log10(rms(signal) / max(rms(out), 1e-3)) >= 60


@pytest.mark.parametrize("freq", [4600, 6000, 9000, 11900])
def test_an_out_of_band_tone_is_removed_going_24k_to_8k(freq: float) -> None:
    # An ideal resampler outputs nothing for these; without a filter 6 kHz aliases to 2 kHz.
    signal = tone(freq, 1.0, 24000, amplitude=LEVEL)
    out = np.concatenate([Resampler24kTo8k().process(signal)])[800:]
    attenuation_db = 20 * np.log10(rms(signal) / max(rms(out), 1e-3))
    assert attenuation_db >= 60


def test_the_image_of_a_3khz_tone_is_removed_going_8k_to_16k() -> None:
    # Upsampling a 3 kHz tone leaves an image at 8 - 3 = 5 kHz unless the filter removes it.
    signal = tone(3000, 1.0, 8000, amplitude=LEVEL)
    out = Resampler8kTo16k().process(signal).astype(np.float64)[1600:]
    spectrum = np.abs(np.fft.rfft(out * np.kaiser(len(out), 14)))
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    wanted = spectrum[np.abs(freqs - 3000) < 50].max()
    image = spectrum[np.abs(freqs - 5000) < 50].max()
    assert 20 * np.log10(wanted / image) >= 60


@pytest.mark.parametrize("hz", [1000, 3000, 6000])
def test_the_images_of_a_tone_are_removed_going_16k_to_24k(hz: float) -> None:
    # Upsampling by 3 leaves images at 16 -/+ f and 32 -/+ f kHz, which fold into the 24 kHz
    # side (6 kHz: at 10 and 2 kHz) unless the filter removes them. Nothing but the tone stays.
    signal = tone(hz, 1.0, 16000, amplitude=LEVEL)
    out = resampler_16k_to_24k().process(signal).astype(np.float64)[2400:]
    spectrum = np.abs(np.fft.rfft(out * np.kaiser(len(out), 14)))
    freqs = np.fft.rfftfreq(len(out), 1 / 24000)
    wanted = spectrum[np.abs(freqs - hz) < 100].max()
    rest = spectrum[np.abs(freqs - hz) >= 100].max()
    assert 20 * np.log10(wanted / rest) >= 60


@pytest.mark.parametrize("make", RESAMPLERS)
def test_the_added_delay_is_under_3_ms(make: Callable[[], StreamResampler]) -> None:
    assert make().delay_ms < 3


@pytest.mark.parametrize("make", RESAMPLERS)
def test_full_scale_input_saturates_instead_of_wrapping(
    make: Callable[[], StreamResampler]
) -> None:
    # The filter overshoots a full-scale step by several percent (Gibbs ringing): that must clip
    # to 32767, not wrap around to a large negative sample (a loud click).
    step = np.concatenate([np.zeros(500, np.int16), np.full(500, 32767, np.int16)])
    out = make().process(step)
    assert out.max() == 32767
    assert out.min() > -5000


# --- Resampling: reset ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, frame",
    [
        (Resampler8kTo16k, 160),
        (Resampler24kTo8k, 480),
        (resampler_24k_to_16k, 480),
        (resampler_16k_to_24k, 320),
    ],
)
def test_reset_forgets_the_previous_audio(make: Callable[[], StreamResampler], frame: int) -> None:
    loud = tone(440, 0.1, make().in_rate)
    quiet = np.zeros(frame, np.int16)
    used, fresh = make(), make()
    used.process(loud)
    assert np.any(used.process(quiet) != 0)  # the tail of the loud audio rings on...
    used.process(loud)
    used.reset()
    assert np.array_equal(used.process(quiet), fresh.process(quiet))  # ...unless reset


def test_reset_restarts_the_output_count() -> None:
    resampler = Resampler24kTo8k()
    resampler.process(np.zeros(1000, np.int16))  # leaves a partial step pending
    resampler.reset()
    assert len(resampler.process(np.zeros(480, np.int16))) == 160


def test_only_ratios_of_small_whole_numbers_are_supported() -> None:
    with pytest.raises(ValueError, match="ratios of small whole numbers"):
        StreamResampler(44100, 16000)  # 441:160 would take a filter of thousands of taps


def test_equal_rates_pass_audio_through() -> None:
    samples = tone(1000, 0.02, 16000)
    assert np.array_equal(StreamResampler(16000, 16000).process(samples), samples)


# --- Outbound framing -------------------------------------------------------------------------


def test_chunker_yields_only_whole_160_byte_frames() -> None:
    chunker = FrameChunker()
    assert chunker.push(b"\x01" * 100) == []
    frames = chunker.push(b"\x02" * 300)
    assert frames == [b"\x01" * 100 + b"\x02" * 60, b"\x02" * 160]
    assert chunker.pending == 80


def test_chunker_flush_pads_the_tail_with_ulaw_silence() -> None:
    chunker = FrameChunker()
    chunker.push(b"\x01" * 170)
    assert chunker.flush() == b"\x01" * 10 + b"\xff" * 150
    assert chunker.pending == 0
    assert chunker.flush() is None


def test_chunker_clear_drops_the_tail() -> None:
    chunker = FrameChunker()
    chunker.push(b"\x01" * 50)
    chunker.clear()
    assert chunker.flush() is None


def test_a_20ms_model_chunk_becomes_one_twilio_frame() -> None:
    resampler, chunker = Resampler24kTo8k(), FrameChunker()
    frames = chunker.push(ulaw_encode(resampler.process(tone(1000, 0.02, 24000))))
    assert [len(frame) for frame in frames] == [TWILIO_FRAME_BYTES]
