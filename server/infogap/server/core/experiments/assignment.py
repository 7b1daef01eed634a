"""Assignment of users to variants: a hash, so it needs no stored state. Every replica and
every restart puts a user in the same variant, and one experiment's split is independent of
another's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from infogap.server.core.domain import Experiment, Variant
from infogap.server.core.metrics import CoreMetrics


def assignment_point(experiment: str, user_id: str) -> float:
    """Where a user falls in [0, 1) for an experiment: SHA-256 of the name and the id, so the
    same everywhere and independent between experiments."""
    digest = hashlib.sha256(f"{experiment}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, user_id: str) -> Variant | None:
    """The user's variant; None when the shares add up to less than 1 and the user falls in
    the rest, outside the experiment."""
    point = assignment_point(experiment.name, user_id)
    upper = 0.0
    for variant in experiment.variants:
        upper += variant.share
        if point < upper:
            return variant
    return None


@dataclass(frozen=True, slots=True)
class Assignment:
    """A user's place in a running experiment."""

    experiment: Experiment
    variant: Variant


class RunningExperiment:
    """A running experiment and the assignments computed so far. Recommend's throughput is
    bound by the Python work per call, so a returning user's variant is a dict lookup."""

    MAX_CACHED_USERS = 100_000  # then the cache starts over: 15 MB with 14-character ids

    def __init__(self, experiment: Experiment, metrics: CoreMetrics | None = None) -> None:
        """``metrics`` counts the users assigned to each variant."""
        self.experiment = experiment
        self._metrics = metrics or CoreMetrics()
        self._assignments: dict[str, Assignment | None] = {}

    def assignment(self, user_id: str) -> Assignment | None:
        """The user's assignment; None when they fall outside the experiment."""
        try:
            return self._assignments[user_id]
        except KeyError:
            pass
        variant = assign(self.experiment, user_id)
        found = None if variant is None else Assignment(self.experiment, variant)
        if variant is not None:
            self._metrics.assigned(self.experiment.name, variant.name)
        if len(self._assignments) >= self.MAX_CACHED_USERS:
            self._assignments = {}
        self._assignments[user_id] = found
        return found

    def forget(self, user_id: str) -> None:
        """Drops the user's cached assignment (erasure)."""
        self._assignments.pop(user_id, None)
