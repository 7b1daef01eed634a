"""Choosing what serves whom: every trained model alone and blended with the baseline
(popularity) is measured on the validation split, per user-activity bucket, and each bucket
gets the best candidate, never one that did worse than the baseline there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from infogap.server.core.domain import BucketPlan, CandidateScore, ServingPlan
from infogap.server.core.models.holdout import (
    VALIDATION_K,
    VALIDATION_METRIC,
    ValidationSplit,
    ndcg_at_k,
    unseen,
    validation_query,
)
from infogap.server.core.models.pipeline import blended_positions, top_positions
from infogap.server.core.plugins.protocols import ScoreResult, TrainedModel, UserQuery


@dataclass(frozen=True)
class Candidate:
    """One way to serve a user: ``model`` first (then the serving order's fallback), its list
    mixed with ``blend_with``'s at ``blend_weight`` when that is set."""

    model: str
    blend_with: str = ""
    blend_weight: float = 0.0

    @property
    def name(self) -> str:
        if not self.blend_with:
            return self.model
        return f"blend:{self.model}+{self.blend_with}@{self.blend_weight:g}"

    @classmethod
    def of(cls, bucket: BucketPlan) -> Candidate:
        return cls(bucket.model, bucket.blend_with, bucket.blend_weight)


def candidates(
    strategies: Sequence[str], baseline: str, blend_weights: Sequence[float]
) -> list[Candidate]:
    """The baseline first (so it wins ties), then each other strategy alone, then blended."""
    others = [s for s in strategies if s != baseline]
    blends = [Candidate(s, baseline, w) for s in others for w in blend_weights]
    return [Candidate(baseline), *(Candidate(s) for s in others), *blends]


def blends_of_the_best_two(
    options: Sequence[Candidate], values: np.ndarray, blend_weights: Sequence[float]
) -> list[Candidate]:
    """Blends of the two personal models (not the baseline, ``options[0]``) with the best
    mean of ``values`` (from ``measure``), at each of ``blend_weights``: two models that err
    differently often rank better together than either alone."""
    singles = [i for i, option in enumerate(options[1:], 1) if not option.blend_with]
    if len(singles) < 2:
        return []
    means = values.mean(axis=1) if values.shape[1] else np.zeros(len(options))
    first, second = sorted(singles, key=lambda i: -means[i])[:2]
    return [Candidate(options[first].model, options[second].model, w) for w in blend_weights]


def serve(
    candidate: Candidate,
    models: Sequence[TrainedModel],
    score: Callable[[TrainedModel], ScoreResult | None],
    eligible: np.ndarray,
    count: int,
) -> tuple[str, np.ndarray] | None:
    """The strategy that serves a user under ``candidate`` (e.g. ``blend:lightfm+popularity``)
    and the positions it ranks first; None when no model scores the user. ``models`` are in
    serving order; ``score`` scores the user with one of them."""
    by_strategy = {model.strategy: model for model in models}
    first = by_strategy.get(candidate.model)
    order = ([first] if first is not None else []) + [m for m in models if m is not first]
    for model in order:
        result = score(model)
        if result is None:
            continue
        other = by_strategy.get(candidate.blend_with)
        if model is first and other is not None and other is not model:
            mixed_with = score(other)
            if mixed_with is not None:
                positions, _, _ = blended_positions(
                    result.scores, mixed_with.scores, candidate.blend_weight, eligible, count
                )
                return f"blend:{model.strategy}+{other.strategy}", positions
        return model.strategy, top_positions(result.scores, eligible, count)
    return None


class _ScoresOf:
    """One user's score by each model, each computed once however many candidates ask."""

    def __init__(self, query: UserQuery) -> None:
        self._query = query
        self._results: dict[str, ScoreResult | None] = {}

    def __call__(self, model: TrainedModel) -> ScoreResult | None:
        if model.strategy not in self._results:
            self._results[model.strategy] = model.score_user(self._query)
        return self._results[model.strategy]


def measure(
    options: Sequence[Candidate],
    models: Sequence[TrainedModel],
    item_ids: np.ndarray,
    split: ValidationSplit,
    load_attributes: Callable[[str], Mapping[str, str]],
) -> np.ndarray:
    """NDCG@10 of each candidate (rows) for each validation user (columns); 0 where nothing
    scores the user. Each model scores each user once."""
    positions = {item_id: i for i, item_id in enumerate(item_ids.tolist())}
    values = np.zeros((len(options), len(split.user_ids)))
    for column, (relevant, seen) in enumerate(zip(split.relevant, split.seen_in_training)):
        score = _ScoresOf(validation_query(split, column, positions, load_attributes))
        eligible = unseen(positions, seen)
        for row, option in enumerate(options):
            served = serve(option, models, score, eligible, VALIDATION_K)
            if served is not None:
                ranked = item_ids[served[1]].tolist()
                values[row, column] = ndcg_at_k(ranked, relevant, VALIDATION_K)
    return values


def bucket_ranges(edges: Sequence[int]) -> list[tuple[int, int | None]]:
    """``[1, 5, 20]`` -> 0, 1-4, 5-19, 20 and more (inclusive bounds; None: unbounded)."""
    lows = [0, *edges]
    return [(low, high - 1) for low, high in zip(lows, edges)] + [(lows[-1], None)]


def _in_range(interactions: np.ndarray, low: int, high: int | None) -> np.ndarray:
    inside = interactions >= low
    return inside & (interactions <= high) if high is not None else inside


def _best(means: np.ndarray, min_gain: float) -> int:
    """The best of ``means`` (the first on ties), or 0 (the baseline) unless it leads by more
    than ``min_gain`` of the baseline's value."""
    best = int(np.argmax(means))
    return best if means[best] > means[0] * (1.0 + min_gain) else 0


def choose_plan(
    options: Sequence[Candidate],
    values: np.ndarray,
    training_interactions: Sequence[int],
    edges: Sequence[int],
    min_bucket_users: int,
    min_gain: float = 0.0,
    new_user: Sequence[bool] = (),
) -> ServingPlan:
    """Per bucket of ``edges``, the candidate of ``options`` (the baseline first) with the
    best mean of ``values`` (from ``measure``) over the bucket's validation users, bucketed
    by their ``training_interactions``. Users flagged in ``new_user`` (held out whole, with
    their recent items) get buckets of their own; without any, there are none. A bucket with
    fewer than ``min_bucket_users`` takes the best candidate over all users of its kind. The
    baseline stays unless a candidate beat it by more than ``min_gain`` of its value (a lead
    within the noise of a small bucket is no evidence); ties go to the earlier candidate."""
    interactions = np.asarray(training_interactions)
    is_new = np.zeros(len(interactions), dtype=bool)
    if len(new_user):
        is_new = np.asarray(new_user, dtype=bool)
    choose = partial(_buckets, options, values, interactions, edges, min_bucket_users, min_gain)
    new_user_buckets = choose(is_new, "new ") if is_new.any() else ()
    return ServingPlan(VALIDATION_METRIC, options[0].model, choose(~is_new, ""), new_user_buckets)


def _buckets(
    options: Sequence[Candidate],
    values: np.ndarray,
    interactions: np.ndarray,
    edges: Sequence[int],
    min_bucket_users: int,
    min_gain: float,
    population: np.ndarray,
    kind: str,
) -> tuple[BucketPlan, ...]:
    """``choose_plan``'s buckets for the validation users in ``population`` (a bool mask);
    ``kind`` names them in the reasons ("new " users, or "")."""
    baseline = options[0]
    values, interactions = values[:, population], interactions[population]
    overall_means = values.mean(axis=1) if values.shape[1] else np.zeros(len(options))
    overall = _best(overall_means, min_gain)
    buckets = []
    for low, high in bucket_ranges(edges):
        members = _in_range(interactions, low, high)
        users = int(members.sum())
        means = values[:, members].mean(axis=1) if users else np.zeros(len(options))
        scores = tuple(CandidateScore(o.name, float(m)) for o, m in zip(options, means))
        if users >= min_bucket_users and users > 0:
            best = _best(means, min_gain)
            top = int(means.argmax())
            reason = (
                f"{options[best].name}: {VALIDATION_METRIC} {means[best]:.4f} on {users} "
                f"{kind}validation users, best of {len(options)} ({baseline.name} "
                f"{means[0]:.4f})"
            )
            if top != best:
                reason += f"; {options[top].name} {means[top]:.4f} leads by {min_gain:.0%} or less"
        else:
            best = overall
            reason = (
                f"{users} {kind}validation users (fewer than {min_bucket_users}): the best over "
                f"all {values.shape[1]}, {options[best].name} ({VALIDATION_METRIC} "
                f"{overall_means[best]:.4f}, {baseline.name} {overall_means[0]:.4f})"
            )
        chosen = options[best]
        buckets.append(
            BucketPlan(
                min_interactions=low,
                max_interactions=high,
                validation_users=users,
                model=chosen.model,
                blend_with=chosen.blend_with,
                blend_weight=chosen.blend_weight,
                scores=scores if users else (),
                reason=reason,
            )
        )
    return tuple(buckets)


def plan_value(
    plan: ServingPlan | None,
    models: Sequence[TrainedModel],
    item_ids: np.ndarray,
    split: ValidationSplit,
    load_attributes: Callable[[str], Mapping[str, str]],
) -> float:
    """Mean NDCG@10 on ``split`` of ``models`` served by ``plan`` (None: the serving order)."""
    if not split.user_ids:
        return 0.0
    if plan is None:
        options = [Candidate(models[0].strategy)] if models else []
        values = measure(options, models, item_ids, split, load_attributes)
        return float(values[0].mean()) if options else 0.0
    options = list(dict.fromkeys(Candidate.of(bucket) for bucket in plan.all_buckets))
    values = measure(options, models, item_ids, split, load_attributes)
    return value_of(plan, options, values, split.training_interactions, split.new_user)


def value_of(
    plan: ServingPlan,
    options: Sequence[Candidate],
    values: np.ndarray,
    training_interactions: Sequence[int],
    new_user: Sequence[bool] = (),
) -> float:
    """Mean of ``values`` (from ``measure`` of ``options``) when each user gets the candidate
    of their bucket in ``plan`` (new users' buckets for those flagged in ``new_user``)."""
    if not len(training_interactions):
        return 0.0
    is_new = list(new_user) or [False] * len(training_interactions)
    chosen = [
        options.index(Candidate.of(plan.bucket_of(n, new)))
        for n, new in zip(training_interactions, is_new)
    ]
    return float(values[chosen, np.arange(len(chosen))].mean())
