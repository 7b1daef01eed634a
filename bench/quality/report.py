"""The quality targets and the printed report."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

from .new_customer import new_customer_rows, new_customer_targets, new_customer_title
from .protocol import FRESH_EVENTS, FRESH_MIN_POSITIVES, NUM_THREADS, K
from .protocols_report import PROTOCOL_HEADER, print_protocols, protocol_row, protocol_targets
from .repeat_purchases import buy_again_rows, buy_again_targets, buy_again_title

# --- targets and report -----------------------------------------------------------------------

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le}


def target(name: str, value: float, comparison: str, threshold: float) -> dict:
    return {
        "name": name,
        "value": value,
        "comparison": comparison,
        "threshold": threshold,
        "met": COMPARISONS[comparison](value, threshold),
    }


def targets_of(figures: dict) -> list[dict]:
    ndcg = f"ndcg@{K}"
    accuracy_ = figures["accuracy"]["candidates"]
    infogap = accuracy_["infogap"][ndcg]
    cold_users = figures["cold_users"]
    freshness = figures["freshness"]
    targets = [
        target("accuracy: InfoGap NDCG@10 >= 0.25", infogap, ">=", 0.25),
        target(
            "accuracy: InfoGap NDCG@10 >= 1.6 x popularity",
            infogap,
            ">=",
            1.6 * accuracy_["popularity"][ndcg],
        ),
        *protocol_targets(figures, target),
        target(
            "cold users: InfoGap NDCG@10 >= popularity",
            cold_users["infogap"][ndcg],
            ">=",
            cold_users["popularity"][ndcg],
        ),
        target("cold items: InfoGap AUC >= 0.65", figures["cold_items"]["infogap_auc"], ">=", 0.65),
        target(
            "freshness: InfoGap NDCG@10 > popularity",
            freshness["infogap"][ndcg],
            ">",
            freshness["popularity"][ndcg],
        ),
    ]
    if "new_customer" in figures:
        targets += new_customer_targets(figures["new_customer"], target)
    if "buy_again" in figures:
        targets += buy_again_targets(figures["buy_again"], target)
    for name, timing in figures["training_time"].items():
        name = f"training time {name}: InfoGap / raw LightFM <= 1.3"
        targets.append(target(name, timing["ratio"], "<=", 1.3))
    large = figures["training_time"].get("synthetic_1m")
    if large:  # a whole Train of a million events must end within three minutes on 2 cores
        seconds = large["infogap_train_total_seconds"]
        targets.append(
            target("training time synthetic_1m: Train seconds <= 180", seconds, "<=", 180)
        )
    return targets


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    def line(values: Sequence[str]) -> str:
        # The first column is text, the others are figures.
        aligned = [values[0].ljust(widths[0])]
        aligned += [v.rjust(w) for v, w in zip(values[1:], widths[1:])]
        return "  " + "  ".join(aligned)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(row[c]) for row in [list(header), *cells]) for c in range(len(header))]
    print(f"\n{title}")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))


def _strategies(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {count}" for name, count in figures.get("strategies", {}).items())


METRIC_HEADER = ("candidate", f"NDCG@{K}", f"P@{K}", f"R@{K}", "users", "answered by")


def _metric_row(label: str, figures: Mapping[str, Any]) -> list[Any]:
    return [
        label,
        figures[f"ndcg@{K}"],
        figures[f"precision@{K}"],
        figures[f"recall@{K}"],
        figures["users"],
        _strategies(figures),
    ]


def print_report(figures: dict) -> None:
    print(f"InfoGap recommendation quality: MovieLens 100K, seed {figures['seed']}, k = {K}")
    print(f"server settings: the defaults, except lightfm.num_threads = {NUM_THREADS}")
    for section, values in figures["settings"].items():
        print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))

    accuracy_ = figures["accuracy"]
    print_table(
        f"Accuracy: random 80/20 split of the positives ({accuracy_['train_positives']:,} train, "
        f"{accuracy_['test_positives']:,} test), training items left out",
        PROTOCOL_HEADER,
        [protocol_row(c) for c in accuracy_["candidates"].values()],
    )
    print_protocols(figures, print_table)
    cold_users = figures["cold_users"]
    print_table(
        f"Cold-start users: {cold_users['held_out_users']} users held out, attributes only; "
        "targets are all their positives",
        METRIC_HEADER,
        [
            _metric_row("InfoGap", cold_users["infogap"]),
            _metric_row("popularity (training users)", cold_users["popularity"]),
        ],
    )
    freshness = figures["freshness"]
    print_table(
        f"Freshness: held-out users with >= {FRESH_MIN_POSITIVES} positives record their "
        f"{FRESH_EVENTS} earliest (no retraining); targets are the rest",
        METRIC_HEADER,
        [
            _metric_row("InfoGap after the events", freshness["infogap"]),
            _metric_row("InfoGap before them (reference)", freshness["infogap_before_events"]),
            _metric_row("popularity (without those items)", freshness["popularity"]),
        ],
    )
    if "new_customer" in figures:
        new = figures["new_customer"]
        print_table(new_customer_title(new), METRIC_HEADER, new_customer_rows(new, _metric_row))
    if "buy_again" in figures:
        again = figures["buy_again"]
        print_table(buy_again_title(again), METRIC_HEADER, buy_again_rows(again, _metric_row))
    items = figures["cold_items"]
    print_table(
        f"Cold-start items: {items['held_out_items']} items held out, genres only; RankItems "
        f"over them for {items['users']} users",
        ("candidate", "AUC", "answered by"),
        [
            ["InfoGap", items["infogap_auc"], _strategies(items)],
            ["genre affinity, numpy (reference)", items["genre_affinity_auc"], ""],
            ["random (reference)", 0.5, ""],
        ],
    )
    print_table(
        "Training time, same hyper-parameters and matrices (seconds, median of the runs)",
        ("data", "interactions", "runs", "InfoGap Train", "its LightFM step", "raw fit", "ratio"),
        [
            [
                name,
                f"{timing['interactions']:,}",
                timing["runs"],
                timing["infogap_train_total_seconds"],
                timing["infogap_lightfm_training_seconds"],
                timing["raw_lightfm_fit_seconds"],
                timing["ratio"],
            ]
            for name, timing in figures["training_time"].items()
        ],
    )
    for name, timing in figures["training_time"].items():
        # The served fit of each (the refit, for the strategies the plan serves).
        per_model = ", ".join(
            f"{s} {t:.1f}" for s, t in timing["infogap_seconds_per_model"].items()
        )
        print(f"  {name}, InfoGap's fit per model: {per_model}")
    large = figures["training_time"].get("synthetic_1m")
    if large:
        print(
            f"  synthetic_1m: {large['events']:,} events streamed in "
            f"{large['stream_events_seconds']:.1f} s ({large['users']:,} users, "
            f"{large['items']:,} items)"
        )
    print("\nTargets (information only)")
    for t in figures["targets"]:
        verdict = "PASS" if t["met"] else "MISS"
        print(f"  {verdict}  {t['name']}: {t['value']:.3f} {t['comparison']} {t['threshold']:.3f}")
    print(f"\nrun time {figures['seconds']:.0f} s")
