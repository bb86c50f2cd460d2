"""Keep a load generator's garbage collector out of the latencies it measures.

A bench process holds every frame and time stamp it records (hundreds of thousands of
objects), so CPython's full collections there took up to 200 ms each and showed up as the
server's p99. What the bench allocates while measuring is lists of floats and bytes: no
reference cycles, nothing for the collector to free, so it may stay off for the window.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.freeze()  # what exists now is never scanned again
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
