"""The Opus encoder a recording needs: libopus, the reference codec, through ctypes.

    encoder = OpusEncoder(16_000, channels=2, bitrate=32_000)
    packets = encoder.encode(pcm, 320)  # a packet per 20 ms: 320 samples each side, interleaved
    encoder.lookahead             # samples at the input rate the decoder must skip

The system's libopus (Debian's `libopus0`) rather than the one inside PyAV's FFmpeg: at the
cheapest setting (CELT at complexity 0), Debian's 1.3.1 encodes a minute of 16 kHz stereo in
0.09 CPU-s on the 2-core machine of README's figures, against 0.13-0.18 for the 1.6.1 that
PyAV 18 bundles, which also takes 0.3-0.45 for a minute of digital silence (a muted microphone,
a quiet phone line). Loaded on first use, so a server not recording never needs it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref

import numpy as np
import numpy.typing as npt

# From opus_defines.h.
_APPLICATION_AUDIO = 2049
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
_GET_LOOKAHEAD = 4027
_OK = 0
_MAX_PACKET_BYTES = 1500  # more than a 20 ms frame takes at any bitrate Opus allows


class OpusError(RuntimeError):
    """libopus is missing, or refused a setting or a frame."""


@functools.cache
def libopus() -> ctypes.CDLL:
    """The system's libopus, loaded once. Raises OpusError naming the package to install."""
    try:
        lib = ctypes.CDLL("libopus.so.0")  # Linux's name for it, found without a search
    except OSError:
        name = ctypes.util.find_library("opus")  # elsewhere (a Mac), by the system's search
        if name is None:
            raise OpusError("libopus is not installed (Debian: apt-get install libopus0)") from None
        lib = ctypes.CDLL(name)
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [
        ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
    ]  # fmt: skip
    lib.opus_encoder_destroy.restype = None
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int32,
    ]  # fmt: skip
    lib.opus_encoder_ctl.restype = ctypes.c_int  # variadic: arguments are typed at each call
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_get_version_string.argtypes = []
    return lib


def installed() -> bool:
    """Whether libopus can be loaded here."""
    try:
        libopus()
    except OpusError:
        return False
    return True


def version() -> str:
    """libopus's own name for itself, e.g. "libopus 1.3.1"."""
    return str(libopus().opus_get_version_string().decode())


def _check(code: int, doing: str) -> int:
    if code < _OK:
        raise OpusError(f"libopus could not {doing}: {libopus().opus_strerror(code).decode()}")
    return code


class OpusEncoder:
    """One Opus stream's encoder (CELT's general-audio mode), fed whole frames of PCM16."""

    def __init__(self, rate: int, *, channels: int, bitrate: int, complexity: int = 0) -> None:
        lib = libopus()
        error = ctypes.c_int()
        handle = lib.opus_encoder_create(rate, channels, _APPLICATION_AUDIO, ctypes.byref(error))
        _check(error.value, f"open an encoder ({rate} Hz, {channels} channels)")
        self._handle = ctypes.c_void_p(handle)
        weakref.finalize(self, lib.opus_encoder_destroy, self._handle)
        self.rate = rate
        self.channels = channels
        _check(lib.opus_encoder_ctl(self._handle, _SET_BITRATE, ctypes.c_int32(bitrate)),
               f"set the bitrate to {bitrate}")  # fmt: skip
        _check(lib.opus_encoder_ctl(self._handle, _SET_COMPLEXITY, ctypes.c_int32(complexity)),
               f"set the complexity to {complexity}")  # fmt: skip
        lookahead = ctypes.c_int32()
        _check(lib.opus_encoder_ctl(self._handle, _GET_LOOKAHEAD, ctypes.byref(lookahead)),
               "tell its lookahead")  # fmt: skip
        self.lookahead = lookahead.value
        self._encode = lib.opus_encode
        self._out = ctypes.create_string_buffer(_MAX_PACKET_BYTES)

    def encode(self, samples: npt.NDArray[np.int16], frame_samples: int) -> list[bytes]:
        """A packet per frame of `frame_samples` (2.5-60 ms) from int16 samples, channels
        interleaved, that make whole frames."""
        if samples.dtype != np.int16 or not samples.flags.c_contiguous:
            raise TypeError("samples are C-contiguous int16")
        step = frame_samples * self.channels
        if len(samples) % step:
            raise ValueError(f"{len(samples)} values are not whole frames of {step}")
        encode, handle, out, string_at = self._encode, self._handle, self._out, ctypes.string_at
        address = samples.ctypes.data
        packets = []
        for at in range(0, len(samples), step):
            size = encode(handle, address + 2 * at, frame_samples, out, _MAX_PACKET_BYTES)
            if size < _OK:
                _check(size, f"encode a frame of {frame_samples} samples")
            packets.append(string_at(out, size))
        return packets
