"""Training a catalog's models, saving them as versioned files, and loading them back at start.

Layout under the data directory: ``models/<catalog>/<version>/items.npy`` holds the item ids
that are the index space of that training run, ``users.npy`` the users its models were trained
on (the serving plan treats the others as new users), ``plan.json`` its serving plan, and
``<strategy>/`` what each model saved, and ``MANIFEST.json`` every file's sha256: its checksum
is recorded with the version, and with an artifact store configured each version is published
there and fetched (verified) from it before loading (``core.models.versions``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

import numpy as np

from infogap.server.config import Settings
from infogap.server.core.domain import ModelInfo, ServingPlan, TrainingDecision
from infogap.server.core.errors import FailedPrecondition, NotFound, Unavailable
from infogap.server.core.models.artifacts import ArtifactStore
from infogap.server.core.models.holdout import (
    VALIDATION_METRIC,
    ValidationSplit,
    excluding_seen,
    split_for_validation,
)
from infogap.server.core.models.selection import (
    blends_of_the_best_two,
    bucket_ranges,
    candidates,
    choose_plan,
    measure,
    plan_value,
    value_of,
)
from infogap.server.core.models.training_data import load_training_data
from infogap.server.core.models.versions import USERS_FILE, VersionFiles, write_users
from infogap.server.core.plugins.protocols import (
    Aggregate,
    AggregateStage,
    ModelSkipped,
    ModelTrainer,
    TrainedModel,
    TrainingContext,
    TrainingData,
    release_through,
)
from infogap.server.core.store import Store
from infogap.server.core.store.serialisers import plan_from_json, plan_to_json

log = logging.getLogger(__name__)

MODELS_DIR = "models"
ITEMS_FILE = "items.npy"
PLAN_FILE = "plan.json"  # the serving plan chosen for the version, beside its models


def serving_order(strategies: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """``strategies`` sorted by their place in ``preferred``; unnamed ones after, by name."""
    rank = {name: i for i, name in enumerate(preferred)}
    return sorted(strategies, key=lambda name: (rank.get(name, len(rank)), name))


def _with_models_of(trained: TrainedCatalog, refitted: TrainedCatalog) -> TrainedCatalog:
    """``trained`` with each model (and its info) that ``refitted`` has replaced by that one."""
    by_strategy = {m.strategy: (m, i) for m, i in zip(refitted.models, refitted.infos)}
    pairs = [by_strategy.get(m.strategy, (m, i)) for m, i in zip(trained.models, trained.infos)]
    return replace(trained, models=[m for m, _ in pairs], infos=[i for _, i in pairs])


def new_version(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class TrainedCatalog:
    """What one training run (or a load at start) produced for a catalog."""

    catalog: str
    version: str
    item_ids: np.ndarray
    models: list[TrainedModel]
    infos: list[ModelInfo]
    plan: ServingPlan | None = None
    trained_users: frozenset[str] | None = None  # None: not recorded (an older version)


@dataclass(frozen=True)
class ServingModels:
    """The models serving a catalog now, as the validation compares against them."""

    version: str
    item_ids: np.ndarray
    models: Sequence[TrainedModel]
    plan: ServingPlan | None = None


class ModelLifecycle:
    """Trains, saves and loads the models of every catalog."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        trainers: Mapping[str, ModelTrainer],
        guards: Sequence[AggregateStage],
        segments_of: Callable[[Sequence[str]], dict[str, list[str]]],
        artifacts: ArtifactStore | None = None,
    ) -> None:
        """``artifacts``: where model versions are published for other replicas; None keeps
        them in the local models folder only."""
        self._settings = settings
        self._segments_of = segments_of
        self._store = store
        self._trainers = trainers
        self._release = release_through(guards)
        self._models_dir = store.data_dir / MODELS_DIR
        self._versions = VersionFiles(self._models_dir, store, artifacts)

    def release_aggregate(self, aggregate: Aggregate) -> Aggregate:
        return self._release(aggregate)

    def train(
        self,
        catalog: str,
        serving: ServingModels | None,
        load_attributes: Callable[[str], Mapping[str, str]],
        progress: Callable[[str], None] = lambda _: None,
    ) -> tuple[TrainedCatalog, TrainingDecision]:
        """Fits every registered strategy on the catalog's stored events, validates the result
        against ``serving`` on held-out interactions, and records models and decision.

        A trainer raising ``ModelSkipped`` is left out of the run, and the decision's reason
        ends with ``skipped: <strategy>: <reason>``.

        :raises FailedPrecondition: when the catalog has no positive interactions, or every
            strategy skipped it.
        """
        progress(f"loading events of {catalog!r}")
        everything = load_training_data(self._store, catalog, self._settings, self._segments_of)
        if everything.interactions.nnz == 0:
            raise FailedPrecondition(
                f"catalog {catalog!r} has no events that count as positive interactions; "
                "record some events first"
            )
        lifecycle = self._settings.lifecycle
        data, split = everything, None
        if lifecycle.validation_fraction > 0:
            data, split = split_for_validation(
                everything,
                lifecycle.validation_fraction,
                lifecycle.validation_seed,
                lifecycle.max_validation_users,
                self._settings.selection.cold_validation_fraction,
                bucket_ranges(self._settings.selection.bucket_edges),
            )
            seen = self._store.seen_pairs(catalog, self._settings.seen_event_types)
            split = excluding_seen(split, *seen)
        refit = split is not None and lifecycle.refit_after_validation
        trained_at = datetime.now(UTC).replace(tzinfo=None)
        version = new_version(trained_at)
        version_dir = self._models_dir / catalog / version
        version_dir.mkdir(parents=True)
        try:
            np.save(version_dir / ITEMS_FILE, data.item_ids.astype(str), allow_pickle=False)
            fit = partial(self._fit, catalog, version, trained_at, progress)
            trained, skipped = fit(data, save=True)
            progress("validating")
            decision = self._decide(trained, serving, split, load_attributes)
            served_data = data
            if refit:
                # The plan chooses strategies, not fitted models: the ones it serves learn
                # from every interaction, the latest included, and know the users held out
                # whole. The others stay as validated (fallbacks), to save their fitting time.
                served, over_budget = self._to_refit(trained, decision.plan)
                if served:
                    refitted, _ = fit(everything, save=True, only=served)
                    trained = _with_models_of(trained, refitted)
                    served_data = everything
                skipped += over_budget
            if skipped:
                decision = replace(decision, reason="; ".join([decision.reason, *skipped]))
            trained_users = frozenset(served_data.user_ids.astype(str).tolist())
            write_users(version_dir, trained_users)
            trained = replace(trained, trained_users=trained_users)
            if decision.plan is not None:
                (version_dir / PLAN_FILE).write_text(plan_to_json(decision.plan))
                trained = replace(trained, plan=decision.plan)
            paths = [f"{catalog}/{version}/{i.strategy}" for i in trained.infos]
            checksum = self._versions.publish(catalog, version)
            self._store.record_training(trained.infos, paths, decision, checksum)
        except BaseException:
            self._versions.discard(catalog, version)
            raise
        return trained, decision

    def _fit(
        self,
        catalog: str,
        version: str,
        trained_at: datetime,
        progress: Callable[[str], None],
        data: TrainingData,
        save: bool,
        only: Collection[str] | None = None,
    ) -> tuple[TrainedCatalog, list[str]]:
        """Fits every registered strategy (or those in ``only``) on ``data``, in serving
        order; with ``save``, writes each model into the version's folder, replacing what an
        earlier fit of the run wrote. Also returns why strategies that declined the catalog
        (``ModelSkipped``) were skipped.

        :raises FailedPrecondition: when every strategy declined.
        """
        context = TrainingContext(
            catalog, self.release_aggregate, self._settings.lifecycle.model_time_budget_seconds
        )
        models, infos = [], []
        skipped: list[str] = []
        strategies = serving_order(list(self._trainers), self._settings.serving.strategy_order)
        for strategy in [s for s in strategies if only is None or s in only]:
            progress(f"training {strategy} on {data.interactions.nnz:,} interactions")
            started = time.perf_counter()
            try:
                model = self._trainers[strategy].train(data, context)
            except ModelSkipped as skip:
                # The strategy declined this catalog: the others still train and serve.
                log.warning("%s skipped for %r: %s", strategy, catalog, skip.reason)
                progress(f"skipped {strategy}: {skip.reason}")
                skipped.append(f"skipped: {strategy}: {skip.reason}")
                continue
            seconds = time.perf_counter() - started
            if save:
                self._versions.rewrite_models(catalog, version, [model])
            models.append(model)
            infos.append(
                ModelInfo(
                    catalog=catalog,
                    strategy=strategy,
                    version=version,
                    trained_at=trained_at,
                    training_seconds=seconds,
                    user_count=model.user_count,
                    item_count=len(data.item_ids),
                    event_count=data.event_count,
                    parameters=dict(model.parameters),
                    metrics=dict(model.metrics),
                )
            )
        if not models:
            raise FailedPrecondition(
                f"no strategy could train on catalog {catalog!r}: {'; '.join(skipped)}"
            )
        return TrainedCatalog(catalog, version, data.item_ids, models, infos), skipped

    def _to_refit(
        self, trained: TrainedCatalog, plan: ServingPlan | None
    ) -> tuple[set[str], list[str]]:
        """The strategies to fit again on everything: those that serve someone (the plan's and
        the cold-start last one, which the serving order falls back to; under the fixed rule
        or without a plan, all) whose validated fit kept within the time budget. Also says
        which were left as validated for their time."""
        strategies = {model.strategy for model in trained.models}
        if plan is not None and self._settings.serving.rule_blend_below is None:
            named = {b.model for b in plan.all_buckets} | {b.blend_with for b in plan.all_buckets}
            strategies &= named | {trained.models[-1].strategy}
        budget = self._settings.lifecycle.model_time_budget_seconds
        slow = {
            info.strategy: info.training_seconds
            for info in trained.infos
            if budget is not None and info.strategy in strategies and info.training_seconds > budget
        }
        notes = [
            f"not refitted: {strategy}: its fit took {seconds:.0f} s, more than the {budget:g} s "
            "budget (it serves as validated)"
            for strategy, seconds in sorted(slow.items())
        ]
        return strategies - set(slow), notes

    def _decide(
        self,
        trained: TrainedCatalog,
        serving: ServingModels | None,
        split: ValidationSplit | None,
        load_attributes: Callable[[str], Mapping[str, str]],
    ) -> TrainingDecision:
        tolerance = self._settings.lifecycle.promotion_tolerance
        decided = partial(
            TrainingDecision,
            catalog=trained.catalog,
            candidate_version=trained.version,
            metric=VALIDATION_METRIC if split else "none",
            serving_version=serving.version if serving else "",
            tolerance=tolerance,
            decided_at=datetime.now(UTC).replace(tzinfo=None),
        )
        if split is None:
            return decided(
                promoted=True, candidate_value=0.0, serving_value=None, reason="validation is off"
            )
        plan, candidate = self._choose(trained, split, load_attributes)
        decided = partial(decided, plan=plan)
        # What serves is what is compared: the plans, or the serving order under the override.
        overridden = self._settings.serving.rule_blend_below is not None
        if overridden:
            candidate = plan_value(None, trained.models, trained.item_ids, split, load_attributes)
        if serving is None or self._settings.lifecycle.refit_after_validation:
            reason = "no model was serving"
            if serving is not None:
                reason = "refit after validation: the serving models saw the held-out interactions"
            return decided(
                promoted=True, candidate_value=candidate, serving_value=None, reason=reason
            )
        serving_plan = None if overridden else serving.plan
        current = plan_value(serving_plan, serving.models, serving.item_ids, split, load_attributes)
        promoted = candidate >= current * (1 - tolerance)
        comparison = "within" if promoted else "worse than"
        return decided(
            promoted=promoted,
            candidate_value=candidate,
            serving_value=current,
            reason=f"{VALIDATION_METRIC} {candidate:.4f} vs serving {current:.4f}: "
            f"{comparison} the {tolerance:.0%} tolerance",
        )

    def _choose(
        self,
        trained: TrainedCatalog,
        split: ValidationSplit,
        load_attributes: Callable[[str], Mapping[str, str]],
    ) -> tuple[ServingPlan, float]:
        """The serving plan of the new models, chosen on ``split``, and its value there."""
        selection = self._settings.selection
        strategies = [model.strategy for model in trained.models]
        baseline = selection.baseline if selection.baseline in strategies else strategies[-1]
        options = candidates(strategies, baseline, selection.blend_weights)
        values = measure(options, trained.models, trained.item_ids, split, load_attributes)
        pairs = blends_of_the_best_two(options, values, selection.blend_weights)
        if pairs:
            pair_values = measure(pairs, trained.models, trained.item_ids, split, load_attributes)
            options, values = [*options, *pairs], np.vstack([values, pair_values])
        plan = choose_plan(
            options,
            values,
            split.training_interactions,
            selection.bucket_edges,
            selection.min_bucket_users,
            selection.min_gain,
            split.new_user,
        )
        return plan, value_of(plan, options, values, split.training_interactions, split.new_user)

    def resave(self, catalog: str, version: str, models: Sequence[TrainedModel]) -> None:
        """Rewrites serving models' files (after an erasure), each through a fresh directory
        swapped in by rename so no model is ever half-written; ``republish`` afterwards."""
        self._versions.rewrite_models(catalog, version, models)

    def save_users(self, catalog: str, version: str, users: frozenset[str]) -> None:
        """Rewrites a version's trained users (after an erasure); ``republish`` afterwards."""
        self._versions.rewrite_users(catalog, version, users)

    def republish(self, catalog: str, version: str) -> None:
        """Seals and publishes a version whose files were rewritten, and records its new
        checksum, so that other replicas fetch the rewritten files.

        :raises Unavailable: when the artifact store cannot be written.
        """
        self._versions.republish(catalog, version)

    def delete_other_versions(self, kept: set[tuple[str, str]]) -> int:
        """Deletes the files of every model version but the ``kept`` (catalog, version) pairs,
        locally and from the artifact store (erasure: old versions hold the erased user's
        vectors); returns how many local folders went."""
        return self._versions.delete_other_versions(kept)

    def load_serving(self) -> list[TrainedCatalog]:
        """The models marked serving in the store, read back from their files (with an
        artifact store, fetched and verified first).

        A catalog whose artifacts cannot be read (missing, written by an older version, or not
        matching their recorded checksum) is logged and left out rather than keeping the server
        from starting; it serves again after its next Train.
        """
        by_catalog: dict[str, list[tuple[ModelInfo, str]]] = {}
        for info, path in self._store.serving_models():
            by_catalog.setdefault(info.catalog, []).append((info, path))
        loaded = []
        for catalog, entries in by_catalog.items():
            try:
                trained = self._load_catalog(catalog, entries)
            except (OSError, ValueError, KeyError, FailedPrecondition, Unavailable) as error:
                log.error("cannot load the models of %r: %s", catalog, error)
                continue
            if trained.models:
                loaded.append(trained)
        return loaded

    def load_catalog_serving(self, catalog: str) -> TrainedCatalog | None:
        """The catalog's models marked serving in the store now, fetched and verified (with an
        artifact store) and read back: what a replica loads when another one announced that
        it trained the catalog. None when the catalog has no serving model a loaded plugin
        can serve.

        :raises FailedPrecondition: when the version does not match its recorded checksum or
            its files cannot be read; the local folder is left as it was.
        :raises Unavailable: when the artifact store cannot be read.
        """
        entries = [(i, path) for i, path in self._store.serving_models() if i.catalog == catalog]
        if not entries:
            return None
        trained = self._load_or_refuse(catalog, entries)
        return trained if trained.models else None

    def load_version(self, catalog: str, version: str) -> TrainedCatalog:
        """One stored model version of a catalog, read back from its files (an experiment
        variant pinned to it), fetched and verified first with an artifact store.

        :raises NotFound: when the catalog has no such version.
        :raises FailedPrecondition: when its files cannot be read (e.g. deleted by an erasure)
            or do not match the version's recorded checksum.
        :raises Unavailable: when the artifact store cannot be read.
        """
        entries = self._store.model_version(catalog, version)
        if not entries:
            raise NotFound(f"catalog {catalog!r} has no model version {version!r}")
        trained = self._load_or_refuse(catalog, entries)
        if not trained.models:
            raise FailedPrecondition(
                f"no loaded plugin can serve model version {version!r} of {catalog!r}"
            )
        return trained

    def _load_or_refuse(self, catalog: str, entries: list[tuple[ModelInfo, str]]) -> TrainedCatalog:
        """``_load_catalog``, with unreadable files a ``FailedPrecondition``."""
        try:
            return self._load_catalog(catalog, entries)
        except (OSError, ValueError, KeyError) as error:
            version = max(info.version for info, _ in entries)
            raise FailedPrecondition(
                f"model version {version!r} of {catalog!r} cannot be loaded: {error}"
            ) from error

    def _load_catalog(self, catalog: str, entries: list[tuple[ModelInfo, str]]) -> TrainedCatalog:
        version = max(info.version for info, _ in entries)
        self._versions.make_local(catalog, version)
        item_ids = np.load(
            self._models_dir / catalog / version / ITEMS_FILE, allow_pickle=False
        ).astype(object)
        entries_by_strategy = {info.strategy: (info, path) for info, path in entries}
        models, infos = [], []
        for strategy in serving_order(
            list(entries_by_strategy), self._settings.serving.strategy_order
        ):
            info, path = entries_by_strategy[strategy]
            trainer = self._trainers.get(strategy)
            if trainer is None or info.version != version:
                log.warning("not serving %s model %s of %r", strategy, info.version, catalog)
                continue
            models.append(trainer.load(self._models_dir / path, item_ids))
            infos.append(info)
        plan_file = self._models_dir / catalog / version / PLAN_FILE
        plan = plan_from_json(plan_file.read_text()) if plan_file.exists() else None
        users_file = self._models_dir / catalog / version / USERS_FILE
        trained_users = None
        if users_file.exists():
            trained_users = frozenset(np.load(users_file, allow_pickle=False).tolist())
        return TrainedCatalog(catalog, version, item_ids, models, infos, plan, trained_users)
