"""The protocol tables (InfoGap and every strong baseline of the same run, with Train times)
and their targets: InfoGap >= each baseline, within 2% counting as a tie (the issue's rule)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .protocol import K

TIE = 0.02  # within 2% of a baseline counts as a tie
INFOGAP_KEY = "infogap"

PROTOCOL_HEADER = (
    "candidate",
    f"NDCG@{K}",
    f"P@{K}",
    f"R@{K}",
    "users",
    "Train s",
    "answered by",
)

# protocol key in the figures -> its title in the targets
PROTOCOL_NAMES = {
    "accuracy": "random split",
    "temporal": "temporal split",
    "retail": "retail purchases",
}


def _strategies(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {count}" for name, count in figures.get("strategies", {}).items())


def protocol_row(figures: Mapping[str, Any]) -> list[Any]:
    seconds = figures.get("train_seconds")
    return [
        figures["label"],
        figures[f"ndcg@{K}"],
        figures[f"precision@{K}"],
        figures[f"recall@{K}"],
        figures["users"],
        "" if seconds is None else f"{seconds:.2f}",
        _strategies(figures),
    ]


def protocol_targets(
    figures: Mapping[str, Any],
    target: Callable[[str, float, str, float], dict],
) -> list[dict]:
    """For each protocol present, InfoGap's NDCG@k >= (1 - TIE) x each baseline's."""
    ndcg = f"ndcg@{K}"
    targets = []
    for key, name in PROTOCOL_NAMES.items():
        if key not in figures:
            continue
        candidates = figures[key]["candidates"]
        infogap = candidates[INFOGAP_KEY][ndcg]
        for baseline_key, baseline in candidates.items():
            if baseline_key.startswith(INFOGAP_KEY):
                continue
            targets.append(
                target(
                    f"{name}: InfoGap NDCG@{K} >= {baseline['label']} (2% tie)",
                    infogap,
                    ">=",
                    (1 - TIE) * baseline[ndcg],
                )
            )
    return targets


def print_protocols(
    figures: Mapping[str, Any],
    print_table: Callable[[str, Any, Any], None],
) -> None:
    temporal = figures.get("temporal")
    if temporal:
        print_table(
            f"Temporal split: each user's latest 20% of positive pairs are the test "
            f"({temporal['train_positives']:,} training positives, "
            f"{temporal['test_positives']:,} test); baselines fit on the training positives",
            PROTOCOL_HEADER,
            [protocol_row(c) for c in temporal["candidates"].values()],
        )
    retail = figures.get("retail")
    if retail:
        print_table(
            f"Retail purchases: {retail['dataset']}, {retail['households']:,} households, "
            f"{retail['products']:,} products; trained on every order but each household's "
            f"last ({retail['train_lines']:,} lines); the test is the {retail['new_products']:,} "
            f"products of the last orders new to their household",
            PROTOCOL_HEADER,
            [protocol_row(c) for c in retail["candidates"].values()],
        )
    elif "retail_skipped" in figures:
        print(f"\nRetail purchases: skipped ({figures['retail_skipped']})")
