"""A recording's file: Opus packets from libopus (postcall/opus.py) in Ogg pages
(postcall/ogg.py), read back by an independent decoder (FFmpeg, through PyAV)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np
import pytest

from postcall import ogg
from postcall.opus import OpusEncoder, version
from postcall.recording import AGENT_RATE, PACKETS_PER_PAGE, RATE, OggOpusEncoder
from voiceproject.tests.signals import dominant_hz, tone


@dataclass
class Page:
    flags: int
    granule: int
    serial: int
    sequence: int
    checksum: int
    packet_sizes: list[int]
    raw: bytes

    @property
    def body(self) -> bytes:
        return self.raw[27 + len(self.lacing) :]

    @property
    def lacing(self) -> bytes:
        return self.raw[27 : 27 + self.raw[26]]


def pages(data: bytes) -> list[Page]:
    """Every Ogg page in `data`, in order (whole pages only, as a recording's bytes are)."""
    found, at = [], 0
    while at < len(data):
        assert data[at : at + 4] == b"OggS", f"no page at byte {at}"
        _, _, flags, granule, serial, sequence, checksum, segments = struct.unpack_from(
            "<4sBBqIIIB", data, at
        )
        lacing = data[at + 27 : at + 27 + segments]
        sizes, size = [], 0
        for value in lacing:
            size += value
            if value < 255:
                sizes.append(size)
                size = 0
        end = at + 27 + segments + sum(lacing)
        found.append(Page(flags, granule, serial, sequence, checksum, sizes, data[at:end]))
        at = end
    return found


def unchecked(page: bytes) -> bytes:
    return page[:22] + bytes(4) + page[26:]


def decoded(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), "r") as container:
        return np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=1)


def recording(seconds: float, *, chunks: int = 3) -> bytes:
    customer, agent = tone(440, seconds, RATE), tone(660, seconds, AGENT_RATE)
    encoder, data = OggOpusEncoder(serial=7), b""
    for part in range(chunks):
        c = slice(len(customer) * part // chunks, len(customer) * (part + 1) // chunks)
        a = slice(len(agent) * part // chunks, len(agent) * (part + 1) // chunks)
        data += encoder.encode(customer[c], agent[a])
    return data + encoder.finish()


def test_the_checksum_is_the_one_ffmpegs_ogg_muxer_writes() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000, layout="stereo")
        samples = np.tile(tone(300, 1.0, 48_000), (2, 1)).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    theirs = pages(out.getvalue())

    assert len(theirs) >= 3
    for page in theirs:
        assert ogg.crc(unchecked(page.raw)) == page.checksum


def test_a_recording_reads_back_whole_each_side_on_its_own_channel() -> None:
    data = recording(2.345)  # not a whole number of 20 ms frames

    both = decoded(data)
    assert both.shape == (2, round(2.345 * 48_000))  # to the sample: pre-skip and end trimmed
    left, right = both[:, 4800:-4800]
    assert dominant_hz(left, 48_000) == pytest.approx(440, abs=2)  # the customer
    assert dominant_hz(right, 48_000) == pytest.approx(660, abs=2)  # the agent


def test_how_much_audio_a_recording_holds_is_read_from_its_first_and_last_bytes() -> None:
    data = recording(2.345)
    headers = ogg.OggOpusStream(serial=1, channels=2, input_rate=RATE, pre_skip=312,
                                vendor="test").headers()  # fmt: skip

    assert ogg.seconds(data[:512], data[-16 * 1024 :]) == pytest.approx(2.345, abs=1e-6)
    assert ogg.seconds(headers, headers) == 0.0  # no audio page yet
    assert ogg.seconds(b"", b"not Ogg at all") == 0.0


def test_its_pages_are_numbered_checked_and_flagged_as_ogg_opus_asks() -> None:
    data = recording(1.0)
    found = pages(data)
    head, tags, *audio = found

    assert [page.sequence for page in found] == list(range(len(found)))
    assert {page.serial for page in found} == {7}
    assert all(ogg.crc(unchecked(page.raw)) == page.checksum for page in found)
    assert [page.flags for page in found] == [0x02] + [0] * (len(found) - 2) + [0x04]
    magic, _, channels, pre_skip, rate = struct.unpack_from("<8sBBHI", head.body)
    assert (magic, channels, rate) == (b"OpusHead", 2, RATE)
    assert pre_skip == OpusEncoder(RATE, channels=2, bitrate=32_000).lookahead * 3
    assert tags.body.startswith(b"OpusTags") and version().encode() in tags.body
    assert head.granule == tags.granule == 0
    # 0.2 s a page, each ending where its last packet does; the last trims to the recording.
    assert [len(page.packet_sizes) for page in audio[:-1]] == [PACKETS_PER_PAGE] * len(audio[:-1])
    assert [page.granule for page in audio[:-1]] == [
        9_600 * (n + 1) for n in range(len(audio) - 1)
    ]
    assert audio[-1].granule == pre_skip + 48_000


def test_a_packet_of_exactly_255_bytes_is_laced_with_a_zero_after_it() -> None:
    stream = ogg.OggOpusStream(serial=1, channels=2, input_rate=RATE, pre_skip=312,
                               vendor="test")  # fmt: skip
    [page] = pages(stream.page([bytes(255), bytes(3), bytes(510)], granule=2_880))

    assert page.lacing == bytes([255, 0, 3, 255, 255, 0])
    assert page.packet_sizes == [255, 3, 510]
    with pytest.raises(ValueError, match="too many bytes for one Ogg page"):
        stream.page([bytes(255 * 255)], granule=960)


def test_the_encoder_takes_whole_frames_of_int16_only() -> None:
    encoder = OpusEncoder(RATE, channels=2, bitrate=32_000)

    assert len(encoder.encode(np.zeros(1280, np.int16), 320)) == 2
    with pytest.raises(ValueError, match="not whole frames of 640"):
        encoder.encode(np.zeros(1000, np.int16), 320)
    with pytest.raises(TypeError, match="int16"):
        encoder.encode(np.zeros(640, np.float32), 320)
    assert version().startswith("libopus ")
