"""Offline evaluation: data sets as arrays (MovieLens-style CSVs or a server's stored history),
the protocol's splits, ranking metrics with bootstrap intervals, throwaway in-process servers
driven through the SDK, the runner, the epsilon-vs-quality curve of differentially private
popularity, and the HTML/JSON report. ``infogap eval`` is the command; ``history`` is the
evaluator behind ``EvaluateModels`` (the core's ``HistoryEvaluator``); ``bench/quality/`` and
``bench/privacy.py`` reuse the pieces."""
