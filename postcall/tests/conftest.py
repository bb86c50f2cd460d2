"""Fixtures for the after-the-call tests: real speech from espeak-ng, as the caller sends it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SAMPLE_RATE = 16_000


def spoken(folder: Path, text: str, *, before_s: float = 0.0, after_s: float = 0.0) -> bytes:
    """`text` said by espeak-ng as 16 kHz PCM16 mono, trimmed of its own leading and trailing
    silence, with exactly `before_s` / `after_s` of digital silence around it."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed for the speech tests: apt-get install espeak-ng sox")
    wav, raw = folder / "speech.wav", folder / "speech.raw"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "170", "-w", str(wav), text], check=True)
    subprocess.run(
        [
            "sox", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed",
            "-L", "-t", "raw", str(raw),
            "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
        ],
        check=True,
    )  # fmt: skip
    silence = b"\x00\x00"
    return (
        silence * round(before_s * SAMPLE_RATE)
        + raw.read_bytes()
        + silence * round(after_s * SAMPLE_RATE)
    )


@pytest.fixture(scope="session")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 2 s of a customer's words, 16 kHz PCM16, no silence around them."""
    return spoken(tmp_path_factory.mktemp("speech"), "Hello, my order has not arrived yet.")
