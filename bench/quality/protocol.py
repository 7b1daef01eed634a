"""The quality benchmark's fixed protocol: k, split fractions, timing repeats, threads."""

from __future__ import annotations

import sys

K = 10
TEST_FRACTION = 0.2
HOLD_OUT_FRACTION = 0.2
FRESH_EVENTS = 5
FRESH_MIN_POSITIVES = 10
TIMING_REPEATS = 3  # MovieLens trains in seconds, so its timings are medians of a few runs
NUM_THREADS = 1

Rankings = dict[int, list[int]]  # user index -> item indices, best first


def progress(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)
