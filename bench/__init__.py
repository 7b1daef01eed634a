"""``make bench``: InfoGap's throughput, latency and ingestion figures, each next to a baseline
measured in the same run on the same machine (a bare gRPC server, raw DuckDB inserts).

Servers and load generators run in subprocesses of their own, so that no two of them share a
GIL. The machine is small and shared, so figures are medians of several rounds and comparisons
are ratios; nothing here asserts a timing.
"""

from pathlib import Path

# Subprocesses run ``python -m bench.<module>`` from here, as ``make bench`` does.
REPO_ROOT = Path(__file__).resolve().parent.parent
