"""The InfoGap plugin API: everything a plugin imports from the server, and nothing else.

This module is the **stable surface** for plugin authors. Built-in plugins (``infogap.plugins``)
and third-party ones import from here only; the server's internals (``infogap.server.core``,
``infogap.server.config``...) may move between releases, these names do not without a
``versionchanged`` note in the hook reference (``docs/plugins.md``)::

    from pydantic import BaseModel

    from infogap.server.plugin import ModelTrainer, hookimpl

    class MyConfig(BaseModel):
        boost: float = 1.0

    @hookimpl
    def infogap_plugin_config_model() -> type[BaseModel]:
        return MyConfig

    @hookimpl
    def infogap_register_models(register, config: MyConfig, features) -> None:
        register(MyTrainer(config, features))

What is here:

- ``hookimpl``, the marker for hook implementations (see ``docs/plugins.md`` for every hook).
- The protocols of what plugins register: ``ModelTrainer`` and the ``TrainedModel`` it returns,
  ``Reranker``, ``AggregateGuard``, ``PrivacyGuard``, ``ProfileContributor``; the optional
  model capabilities ``ExtensibleModel`` (takes new items), ``ForgetfulModel`` (forgets a
  user), ``ExplainingModel`` (names the evidence behind its items, as ``Contribution``s) and
  ``ItemVectorModel`` (offers its item representations to rerankers).
- The data they receive: ``TrainingData`` (with ``TimedEvents``, ``no_timed_events``), ``TrainingContext``, ``FeatureMatrix``,
  ``UserQuery``, ``ScoreResult``, ``RerankContext``, ``ScoredItem``, ``Aggregate``,
  ``ProfileDraft`` with ``ProfileFacts`` and the domain types contributors build
  (``Behaviour``, ``EventTypeCount``, ``WindowCounts``, ``Rfm``, ``Interest``...).
- Host facts handed to hooks: ``FeatureSettings`` (the feature selection) and
  ``PrivacySettings`` (the privacy policy), ``ItemFeedback`` (impressions, clicks and other
  events per item, as ``ItemExposure``, for rerankers), with the ledger a privacy guard spends from
  (``BudgetLedger``, ``ReleasedValues``, ``BudgetExhausted``).
- Helpers: ``user_feature_names``, ``item_feature_names``.
- The domain errors a plugin may raise (``InfoGapError`` subclasses, each mapped to a gRPC
  status by the server), and ``ModelSkipped``, which a trainer raises to decline a catalog it
  does not fit (the run goes on without it, and the decision says why).

The conformance test kit for model plugins is ``infogap.server.plugin.testing`` (it needs
pytest; this module does not).

.. versionadded:: 0.3
"""

from __future__ import annotations

from infogap.server.config import FeatureSettings, PrivacySettings
from infogap.server.core.domain import (
    Behaviour,
    CatalogActivity,
    EventTypeCount,
    Evidence,
    Interest,
    ProfileFacts,
    Rfm,
    ScoredItem,
    SegmentMembership,
    WindowCounts,
)
from infogap.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InfoGapError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from infogap.server.core.plugins.capabilities import (
    Contribution,
    ExplainingModel,
    ItemExposure,
    ItemFeedback,
    ItemVectorModel,
)
from infogap.server.core.plugins.hookspecs import hookimpl
from infogap.server.core.plugins.protocols import (
    Aggregate,
    AggregateGuard,
    AggregateStage,
    ExtensibleModel,
    FeatureMatrix,
    ForgetfulModel,
    ModelSkipped,
    ModelTrainer,
    PrivacyGuard,
    ProfileContributor,
    ProfileDraft,
    RerankContext,
    Reranker,
    ScoreResult,
    TimedEvents,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    item_feature_names,
    no_timed_events,
    user_feature_names,
)
from infogap.server.core.privacy.ledger import BudgetExhausted, BudgetLedger, ReleasedValues

API_VERSION = "0.4"
"""The version of this surface, as the hook reference's ``versionadded`` notes count it."""

__all__ = [
    "API_VERSION",
    "Aggregate",
    "AggregateGuard",
    "AggregateStage",
    "AlreadyExists",
    "Behaviour",
    "BudgetExhausted",
    "BudgetLedger",
    "CatalogActivity",
    "Contribution",
    "EventTypeCount",
    "Evidence",
    "ExplainingModel",
    "ExtensibleModel",
    "FailedPrecondition",
    "FeatureMatrix",
    "FeatureSettings",
    "ForgetfulModel",
    "InfoGapError",
    "Interest",
    "InvalidArgument",
    "ItemExposure",
    "ItemFeedback",
    "ItemVectorModel",
    "ModelSkipped",
    "ModelTrainer",
    "NotFound",
    "PrivacyGuard",
    "PrivacySettings",
    "ProfileContributor",
    "ProfileDraft",
    "ProfileFacts",
    "ReleasedValues",
    "RerankContext",
    "Reranker",
    "ResourceExhausted",
    "Rfm",
    "ScoreResult",
    "ScoredItem",
    "SegmentMembership",
    "TimedEvents",
    "TrainedModel",
    "TrainingContext",
    "TrainingData",
    "Unavailable",
    "UserQuery",
    "WindowCounts",
    "hookimpl",
    "item_feature_names",
    "no_timed_events",
    "user_feature_names",
]
