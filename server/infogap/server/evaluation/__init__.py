"""Offline evaluation: data sets as arrays, the protocol's splits, ranking metrics with
bootstrap intervals, a runner that drives real in-process servers through the SDK, and the
HTML/JSON report. ``infogap eval`` is the command; ``bench/quality.py`` reuses the pieces."""
