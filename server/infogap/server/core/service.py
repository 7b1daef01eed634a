"""``InfoGap``: the core's use cases, one method per RPC, free of gRPC types.

A thin facade: each method validates its arguments and delegates to the room that does the
work. It is built by ``core.factory.build_core``, which hands it every part and what closes them.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta

from infogap.server.config import Settings
from infogap.server.core import validation
from infogap.server.core.domain import (
    CatalogEventCounts,
    ErasureReceipt,
    EventBatch,
    Experiment,
    ExperimentReport,
    Item,
    ModelInfo,
    PluginInfo,
    Profile,
    Recommendation,
    RecommendationFilter,
    RecordResult,
    Segment,
    ServingPlan,
    TrainingDecision,
    TrainReport,
    User,
    UserPatch,
    utc_now,
)
from infogap.server.core.erasure import Erasure
from infogap.server.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from infogap.server.core.evaluation import (
    EvaluationReport,
    EvaluationRequest,
    FinishedEvaluation,
    HistoryEvaluator,
)
from infogap.server.core.experiments.service import Experiments
from infogap.server.core.feedback.ingest import EventWriter, to_arrow
from infogap.server.core.intake.segment import SegmentTranslator
from infogap.server.core.intake.service import Intake
from infogap.server.core.models.recommend import Recommendations
from infogap.server.core.models.registry import ServingRegistry
from infogap.server.core.models.train import Training
from infogap.server.core.privacy.ledger import PrivacyBudget, PrivacyLedger
from infogap.server.core.profiles.service import Profiles
from infogap.server.core.store import Store

MAX_EVALUATION_K = 100
# The evaluations kept in memory for the console (reports are returned, not stored).
KEPT_EVALUATIONS = 10


class InfoGap:
    """The personalization engine behind the gRPC services."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        writer: EventWriter,
        ledger: PrivacyLedger,
        profiles: Profiles,
        registry: ServingRegistry,
        training: Training,
        recommendations: Recommendations,
        experiments: Experiments,
        erasure: Erasure,
        plugin_infos: Callable[[], list[PluginInfo]],
        evaluator: HistoryEvaluator | None,
        segment_translator: SegmentTranslator,
        resources: ExitStack,
    ) -> None:
        """Takes the parts ``build_core`` built; ``resources`` stops and closes them."""
        self.settings = settings
        self._store = store
        self._writer = writer
        self._ledger = ledger
        self._profiles = profiles
        self._registry = registry
        self._training = training
        self._recommendations = recommendations
        self._experiments = experiments
        self._erasure = erasure
        self._plugin_infos = plugin_infos
        self._evaluator = evaluator
        self._evaluation_lock = threading.Lock()
        self._finished_evaluations: deque[FinishedEvaluation] = deque(maxlen=KEPT_EVALUATIONS)
        self._evaluation_numbers = itertools.count(1)
        self._resources = resources
        self.intake = Intake(settings, segment_translator, self.patch_users, self.record_events)
        """Segment-spec messages in (``intake.segment``), unknown names counted."""

    def close(self) -> None:
        """Stops and joins the core's threads, then closes the store. Closing twice does
        nothing."""
        self._resources.close()

    # -- feedback ----------------------------------------------------------------------------

    def record_events(self, batch: EventBatch) -> RecordResult:
        now = utc_now()
        validation.events(batch, self.settings.event_types, now, self.settings.limits)
        return self._writer.write(to_arrow(batch, now))

    # -- profiles ----------------------------------------------------------------------------

    def upsert_users(self, users: list[User]) -> int:
        validation.users(users, self.settings.limits)
        count = self._store.upsert_users(users, utc_now())
        self._profiles.invalidate(u.user_id for u in users)
        return count

    def patch_users(self, patches: list[UserPatch]) -> int:
        validation.patches(patches, self.settings.limits)
        count = self._store.patch_users(patches, utc_now())
        self._profiles.invalidate(p.user_id for p in patches)
        return count

    def upsert_items(self, items: list[Item]) -> int:
        items = validation.items(items, self.settings.limits)
        count = self._store.upsert_items(items, utc_now())
        self._registry.refresh_items({item.catalog for item in items})
        self._profiles.invalidate([])  # interests read item features: segments are recomputed
        return count

    def profile(self, user_id: str, as_of: datetime | None = None) -> Profile:
        validation.identifier(user_id, "user_id", self.settings.limits)
        return self._profiles.profile(user_id, as_of)

    def profiles(
        self, user_ids: list[str], as_of: datetime | None = None
    ) -> tuple[list[Profile], list[str]]:
        validation.user_ids(user_ids, self.settings.profiles.max_batch_size, self.settings.limits)
        return self._profiles.profiles(user_ids, as_of)

    def define_segment(self, name: str, rule: str, description: str) -> Segment:
        return self._profiles.define_segment(name, rule, description)

    def delete_segment(self, name: str) -> None:
        self._profiles.delete_segment(name)

    def list_segments(self) -> list[Segment]:
        return self._profiles.list_segments()

    def segment_members(self, name: str, page_size: int, page_token: str) -> tuple[list[str], str]:
        return self._profiles.segment_members(name, page_size, page_token)

    # -- recommendations ---------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        catalog: str,
        count: int,
        item_filter: RecommendationFilter,
        include_seen: bool,
        diversity: float | None = None,
        log_impression: bool = True,
    ) -> Recommendation:
        """The user's recommendations; ``diversity`` in [0, 1], None for the configured default.
        ``log_impression`` False previews them (the console): no experiment counts the list.

        :raises InvalidArgument: naming ``diversity`` when it is outside [0, 1] or NaN.
        """
        validation.identifier(user_id, "user_id", self.settings.limits)
        if diversity is not None:
            validation.unit_interval(diversity, "diversity")
        return self._recommendations.recommend(
            user_id,
            validation.catalog_name(catalog),
            self._count(count),
            item_filter,
            include_seen,
            diversity,
            log_impression,
        )

    def similar_items(
        self, item_id: str, catalog: str, count: int, item_filter: RecommendationFilter
    ) -> Recommendation:
        validation.identifier(item_id, "item_id", self.settings.limits)
        return self._recommendations.similar_items(
            item_id, validation.catalog_name(catalog), self._count(count), item_filter
        )

    def rank_items(self, user_id: str, catalog: str, item_ids: Sequence[str]) -> Recommendation:
        limits = self.settings.limits
        validation.identifier(user_id, "user_id", limits)
        validation.batch_size(len(item_ids), "item_ids", limits)
        for index, item_id in enumerate(item_ids):
            validation.identifier(item_id, f"item_ids[{index}]", limits)
        validation.distinct(item_ids, "item_ids")
        return self._recommendations.rank_items(user_id, validation.catalog_name(catalog), item_ids)

    def _count(self, count: int) -> int:
        if count == 0:
            return self.settings.serving.default_count
        maximum = self.settings.limits.max_recommendations
        if not 1 <= count <= maximum:
            raise InvalidArgument("count", f"must be between 1 and {maximum} (0 means default)")
        return count

    # -- administration ----------------------------------------------------------------------

    def train(self, catalog: str, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        return self._training.train(validation.catalog_name(catalog), progress)

    def delete_user(self, user_id: str) -> ErasureReceipt:
        """Forgets a user: rows, caches, serving state and model files, then answers."""
        validation.identifier(user_id, "user_id", self.settings.limits)
        return self._erasure.delete_user(user_id)

    def model_info(
        self, catalog: str
    ) -> tuple[list[ModelInfo], TrainingDecision | None, ServingPlan | None]:
        """The serving models of a catalog, the decision of its latest training run, and the
        plan serving it (None when the ``serving.blend_below_interactions`` rule overrides)."""
        catalog = validation.catalog_name(catalog)
        infos = self._registry.model_infos(catalog)
        if not infos:
            raise NotFound(f"catalog {catalog!r} has no trained model")
        plan = self._registry.serving_plan(catalog)
        if self.settings.serving.rule_blend_below is not None:
            plan = None
        return infos, self._training.decision(catalog), plan

    def trained_catalogs(self) -> list[str]:
        """Every catalog with a recorded training run, by name."""
        return sorted(self._store.last_decisions())

    def training_history(self, catalog: str, limit: int) -> list[TrainingDecision]:
        """The catalog's latest ``limit`` training decisions, newest first."""
        if not 1 <= limit <= self.settings.limits.max_batch_size:
            raise InvalidArgument(
                "limit", f"must be between 1 and {self.settings.limits.max_batch_size}"
            )
        return self._store.training_history(validation.catalog_name(catalog), limit)

    def event_counts(self, recent: timedelta) -> list[CatalogEventCounts]:
        """Per catalog, its stored events and those received in the last ``recent``."""
        return self._store.event_counts(utc_now() - recent)

    def plugins(self) -> list[PluginInfo]:
        return self._plugin_infos()

    def evaluate_history(
        self,
        catalog: str,
        *,
        split: str,
        k: int,
        candidates: Sequence[str],
        max_users: int,
        seed: int,
        include_privacy: bool,
        progress: Callable[[str], None] = lambda _: None,
    ) -> EvaluationReport:
        """The offline evaluation report of a catalog's stored history (``infogap eval``'s).
        ``progress`` hears each step, and may raise to abandon the evaluation.

        :raises FailedPrecondition: when this server was built without an evaluator, or the
            history is too small to evaluate.
        :raises InvalidArgument: for a bad split, candidate, k or max_users.
        :raises ResourceExhausted: while another evaluation runs (each trains several models).
        """
        if self._evaluator is None:
            raise FailedPrecondition(
                "this server was built without the offline evaluation (the throwaway servers "
                "of an evaluation are); run EvaluateModels on a server started by infogap serve"
            )
        if not 1 <= k <= MAX_EVALUATION_K:
            raise InvalidArgument("k", f"must be between 1 and {MAX_EVALUATION_K} (0 means 10)")
        request = EvaluationRequest(
            catalog=validation.catalog_name(catalog),
            split=split,
            k=k,
            candidates=tuple(candidates),
            max_users=max_users,
            seed=seed,
            include_privacy=include_privacy,
        )
        if not self._evaluation_lock.acquire(blocking=False):
            raise ResourceExhausted("an evaluation is running already; retry when it has ended")
        try:
            report = self._evaluator.evaluate(self._store, self.settings, request, progress)
            number = next(self._evaluation_numbers)  # under the lock: numbered in finishing order
            self._finished_evaluations.append(
                FinishedEvaluation(number, request, report, utc_now())
            )
        finally:
            self._evaluation_lock.release()
        return report

    def finished_evaluations(self) -> list[FinishedEvaluation]:
        """The last ``KEPT_EVALUATIONS`` evaluations this server ran since it started, newest
        first (reports are not stored: a restart forgets them)."""
        return list(reversed(self._finished_evaluations))

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(self, experiment: Experiment) -> Experiment:
        return self._experiments.create(experiment)

    def start_experiment(self, name: str) -> Experiment:
        return self._experiments.start(name)

    def stop_experiment(self, name: str) -> Experiment:
        stopped = self._experiments.stop(name)
        self._registry.keep_pinned(self._experiments.pinned_versions)
        return stopped

    def experiments(self) -> list[Experiment]:
        return self._experiments.all()

    def experiment_report(self, name: str) -> ExperimentReport:
        return self._experiments.report(name)

    def privacy_budget(self, catalog: str) -> PrivacyBudget:
        """A catalog's differential-privacy budget in the current window.

        :raises FailedPrecondition: when differential privacy is off.
        """
        if not self.settings.privacy.enabled:
            raise FailedPrecondition("differential privacy is off; set privacy.enabled to use it")
        return self._ledger.report(validation.catalog_name(catalog))
