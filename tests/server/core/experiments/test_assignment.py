"""Assignment: a pure hash of experiment and user, and the running experiment's cache of it."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.server.core.domain import Experiment, Variant
from infogap.server.core.experiments.assignment import (
    Assignment,
    RunningExperiment,
    assign,
    assignment_point,
)

EXPERIMENT = Experiment("ab", "default", (Variant("a", 0.5), Variant("b", 0.3)))


def test_the_point_is_a_hash_of_name_and_user_only():
    assert assignment_point("ab", "u1") == assignment_point("ab", "u1")
    assert assignment_point("ab", "u1") != assignment_point("ab2", "u1")
    # The separator keeps ("a", "bc") and ("ab", "c") apart.
    assert assignment_point("a", "bc") != assignment_point("ab", "c")
    assert all(0 <= assignment_point("ab", f"u{n}") < 1 for n in range(1000))


def test_the_shares_are_cut_from_zero_up_in_variant_order():
    for n in range(2000):
        user = f"u{n}"
        point = assignment_point("ab", user)
        expected = "a" if point < 0.5 else "b" if point < 0.8 else None
        variant = assign(EXPERIMENT, user)
        assert (variant and variant.name) == expected


def test_the_running_experiment_caches_assignments_and_forgets_a_user():
    running = RunningExperiment(EXPERIMENT)
    users = [f"u{n}" for n in range(200)]
    first = {u: running.assignment(u) for u in users}
    for user, found in first.items():
        variant = assign(EXPERIMENT, user)
        assert found == (None if variant is None else Assignment(EXPERIMENT, variant))
        assert running.assignment(user) is found  # served from the cache
    inside = next(u for u, found in first.items() if found is not None)
    running.forget(inside)
    again = running.assignment(inside)
    assert again == first[inside] and again is not first[inside]  # computed afresh


def test_the_cache_starts_over_when_full(monkeypatch):
    monkeypatch.setattr(RunningExperiment, "MAX_CACHED_USERS", 10)
    running = RunningExperiment(EXPERIMENT)
    kept = [running.assignment(f"u{n}") for n in range(10)]
    running.assignment("u10")  # the eleventh empties the cache first
    assert len(running._assignments) == 1
    assert running.assignment("u0") == kept[0]  # the same answer, recomputed


def test_assignment_follows_the_shares_and_is_independent_between_experiments():
    variants = (Variant("a", 0.3), Variant("b", 0.5))
    first, second = Experiment("one", "default", variants), Experiment("two", "default", variants)
    users = [f"user-{n}" for n in range(20_000)]
    assigned = [assign(first, u) for u in users]
    shares = {name: sum(1 for v in assigned if v and v.name == name) / len(users) for name in "ab"}
    assert shares == pytest.approx({"a": 0.3, "b": 0.5}, abs=0.015)
    assert sum(v is None for v in assigned) / len(users) == pytest.approx(0.2, abs=0.015)
    points = np.array([[assignment_point(e.name, u) for u in users] for e in (first, second)])
    assert abs(np.corrcoef(points)[0, 1]) < 0.03
    assert [assign(first, u) for u in users[:100]] == assigned[:100]  # a pure function
