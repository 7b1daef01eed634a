"""The plain-text summary printed at the end of ``make bench``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RECOMMEND_TARGET_SHARE = 0.80
INGEST_TARGET_EVENTS_PER_SECOND = 100_000


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns right-aligned except the first, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _verdict(value: float, target: float) -> str:
    return "meets target" if value >= target else "BELOW target"


def _recommend_section(serving: dict[str, Any]) -> list[str]:
    lines = _recommend_lines(serving["recommend"], "")
    in_experiment = serving.get("recommend_in_experiment")
    if in_experiment:
        lines += _recommend_lines(in_experiment, ", inside an A/A experiment")
        ratio = (
            in_experiment["infogap_share_of_ceiling"]
            / serving["recommend"]["infogap_share_of_ceiling"]
        )
        lines.append(
            f"  Inside the experiment InfoGap keeps {ratio:.1%} of its own throughput outside "
            f"it ({in_experiment['impressions_logged']:,} impressions logged)"
        )
    return lines


def _recommend_lines(recommend: dict[str, Any], context: str) -> list[str]:
    infogap = recommend["infogap"]["median"]
    rows = []
    for label, name in (("bare gRPC server (ceiling)", "bare"), ("InfoGap", "infogap")):
        median = recommend[name]["median"]
        rows.append(
            [
                label,
                f"{median['calls_per_second']:,.0f}",
                f"{median['p50_ms']:.2f}",
                f"{median['p99_ms']:.2f}",
                str(sum(r["errors"] for r in recommend[name]["rounds"])),
            ]
        )
    rounds = recommend["infogap"]["rounds"]
    share = recommend["infogap_share_of_ceiling"]
    return [
        f"Recommend{context}, MovieLens 100K, {recommend['concurrency']} in flight, "
        f"{len(rounds)} rounds of {infogap['calls']:,} requests (median round)",
        *table(["server", "req/s", "p50 ms", "p99 ms", "errors"], rows),
        f"  InfoGap = {share:.1%} of the ceiling (median of per-round ratios; target >= "
        f"{RECOMMEND_TARGET_SHARE:.0%}: {_verdict(share, RECOMMEND_TARGET_SHARE)})",
    ]


def _ingest_section(ingestion: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"InfoGap, batch {case['batch_size']} x {case['concurrency']} in flight",
            f"{case['median']['units_per_second']:,.0f}",
            f"{case['median']['calls_per_second']:,.0f}",
            f"{case['median']['p50_ms']:.2f}",
            f"{case['median']['p99_ms']:.2f}",
            f"{case['ratio_to_baseline']:.2f}",
        ]
        for case in ingestion["cases"]
    ]
    rows += [
        [f"{raw['name']} (in-process)", f"{raw['events_per_second']:,.0f}", "", "", "", ""]
        for raw in ingestion["raw_duckdb"]
    ]
    best = max(
        (c for c in ingestion["cases"] if c["batch_size"] >= 500),
        key=lambda c: c["median"]["units_per_second"],
    )
    best_rate = best["median"]["units_per_second"]
    lost = sum(c["events_not_stored"] for c in ingestion["cases"])
    errors = sum(r["errors"] for c in ingestion["cases"] for r in c["rounds"])
    return [
        "RecordEvents, durable (acked after the DuckDB commit), median of "
        f"{len(ingestion['cases'][0]['rounds'])} rounds, a fresh server per line",
        *table(["", "events/s", "calls/s", "p50 ms", "p99 ms", "x raw DuckDB"], rows),
        "  x raw DuckDB: against raw inserts of the same rows, committing as many rows at a time "
        "as one call sends",
        f"  best at batch 500: {best_rate:,.0f} events/s ({best['concurrency']} in flight; target "
        f">= {INGEST_TARGET_EVENTS_PER_SECOND:,}: "
        f"{_verdict(best_rate, INGEST_TARGET_EVENTS_PER_SECOND)})",
        f"  failed calls: {errors}; acknowledged events not stored: {lost}",
    ]


def _train_section(serving: dict[str, Any]) -> list[str]:
    training, imports = serving["train"], serving["import"]
    rows = [
        [
            m["strategy"],
            f"{m['training_seconds']:.2f}",
            f"{m['users']:,}",
            f"{m['items']:,}",
            f"{m['events']:,}",
        ]
        for m in training["models"]
    ]
    loaded = ", ".join(
        f"{what} {figures['rows']:,} in {figures['seconds']:.2f} s "
        f"({figures['rows'] / figures['seconds']:,.0f}/s)"
        for what, figures in imports.items()
    )
    return [
        f"Train, MovieLens 100K: {training['total_seconds']:.2f} s in all (Train's total_seconds)",
        *table(["model", "fit s", "users", "items", "events"], rows),
        f"  loaded before it through the SDK (1,000 per call, one call at a time): {loaded}",
    ]


def summary(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "=" * 78,
        f"InfoGap benchmark: {machine['cpus']} CPUs, {machine['grpc_workers']} gRPC workers per "
        f"server, {results['seconds']:.0f} s in all",
        "Shared, noisy machine: figures are medians, compare the ratios.",
        "=" * 78,
    ]
    sections = []
    if "serving" in results:
        sections += [_recommend_section(results["serving"]), _train_section(results["serving"])]
    if "large_catalog" in results:
        from .large_catalog import report_lines as large_catalog_lines

        sections.append(large_catalog_lines(results["large_catalog"]))
    if "metrics" in results:
        from .metrics import report_lines as metrics_lines

        sections.append(metrics_lines(results["metrics"]))
    if "ingestion" in results:
        sections.append(_ingest_section(results["ingestion"]))
    if "profiles" in results:
        from .profiles import report_lines as profile_lines  # the module that measures them

        sections.append(profile_lines(results["profiles"]))
    if "profiles_postgresql" in results:
        from .profiles import report_lines as profile_lines

        sections.append(profile_lines(results["profiles_postgresql"], "PostgreSQL"))
    if "replicas" in results:
        from .replicas import report_lines as replicas_lines

        sections.append(replicas_lines(results["replicas"]))
    if "http" in results:
        from .http import report_lines as http_lines

        sections.append(http_lines(results["http"]))
    if "drain" in results:
        from .drain import report_lines as drain_lines

        sections.append(drain_lines(results["drain"]))
    if "rerankers" in results:
        from .rerankers import report_lines  # the module that measures them formats them

        sections.append(report_lines(results["rerankers"]))
    for section in sections:
        lines += ["", *section]
    return "\n".join(lines)
