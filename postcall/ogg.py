"""Ogg Opus (RFC 7845): the pages a recording's Opus packets are stored in. Pure.

    stream = OggOpusStream(serial=7, channels=2, input_rate=16_000, pre_skip=312,
                           vendor="libopus 1.3.1")
    stream.headers()                          # OpusHead and OpusTags, a page each
    stream.page(packets, granule=9_600)       # audio packets ending at that 48 kHz position
    stream.page(rest, granule=..., last=True) # the end of the stream
    seconds(first_bytes, last_bytes)          # how much audio a stream holds, read back

A page's granule position counts the 48 kHz samples a decoder has produced by the end of its
last packet, the encoder's pre-skip included; the last page's may be smaller than its packets
make, which trims the padding of the final frame (section 4.4).
"""

from __future__ import annotations

import struct
import zlib

GRANULE_RATE = 48_000  # Ogg Opus counts time at 48 kHz, whatever rate was encoded
_BEGINNING, _END = 0x02, 0x04  # header_type flags
# "OggS", version, flags, granule position, serial, page number, checksum, segments.
_HEADER = struct.Struct("<4sBBqIIIB")
_CRC_AT = 22

# Ogg's CRC-32 runs MSB first with no inversions; zlib's runs LSB first, inverted. Reversing
# the bits of every byte (and of the result) turns one into the other, in C at zlib's speed.
_REVERSED_BITS = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def crc(data: bytes) -> int:
    """Ogg's page checksum (polynomial 0x04C11DB7, initial value 0, no final XOR)."""
    register = zlib.crc32(data.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{register:032b}"[::-1], 2)


class OggOpusStream:
    """One logical Ogg stream of Opus packets: pages numbered in order, flags and checksums."""

    def __init__(
        self, *, serial: int, channels: int, input_rate: int, pre_skip: int, vendor: str
    ) -> None:
        self.serial = serial & 0xFFFFFFFF
        self.channels = channels
        self.input_rate = input_rate
        self.pre_skip = pre_skip
        self.vendor = vendor
        self._sequence = 0

    def headers(self) -> bytes:
        """The identification header alone on the first page, then the comment header."""
        head = struct.pack(
            "<8sBBHIhB", b"OpusHead", 1, self.channels, self.pre_skip, self.input_rate, 0, 0
        )  # version 1, output gain 0, channel mapping 0 (mono or left/right stereo)
        vendor = self.vendor.encode()
        tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
        return self._page([head], 0, _BEGINNING) + self._page([tags], 0, 0)

    def page(self, packets: list[bytes], granule: int, *, last: bool = False) -> bytes:
        """A page of whole audio packets, the last of them ending at `granule`."""
        return self._page(packets, granule, _END if last else 0)

    def _page(self, packets: list[bytes], granule: int, flags: int) -> bytes:
        lacing = bytearray()
        for packet in packets:  # 255 per full segment, then the rest (0 if it divides evenly)
            lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
        if len(lacing) > 255:
            raise ValueError(f"{len(packets)} packets are too many bytes for one Ogg page")
        header = _HEADER.pack(
            b"OggS", 0, flags, granule, self.serial, self._sequence, 0, len(lacing)
        )
        self._sequence += 1
        page = bytearray(header + lacing + b"".join(packets))
        page[_CRC_AT : _CRC_AT + 4] = struct.pack("<I", crc(bytes(page)))
        return bytes(page)


def seconds(head: bytes, tail: bytes) -> float:
    """The audio in an Ogg Opus stream from its first bytes (`head`, for the encoder's
    pre-skip) and its last (`tail`): the last page's granule position, less the pre-skip.
    0.0 when there is no audio page (the headers alone, or no Ogg at all)."""
    at = head.find(b"OpusHead")
    pre_skip = int.from_bytes(head[at + 10 : at + 12], "little") if at >= 0 else 0
    end = len(tail)
    while (at := tail.rfind(b"OggS", 0, end)) >= 0:
        end = at
        if len(tail) < at + 27 or tail[at + 4] != 0:  # cut off, or "OggS" inside audio
            continue
        granule = int.from_bytes(tail[at + 6 : at + 14], "little", signed=True)
        if granule >= 0:  # -1: no packet ends on this page
            return max(0, granule - pre_skip) / GRANULE_RATE
    return 0.0
