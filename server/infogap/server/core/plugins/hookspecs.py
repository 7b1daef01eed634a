"""InfoGap's plugin hooks: the public API for plugin authors (reference: docs/plugins.md).

A plugin is a module (or object) with functions decorated by ``hookimpl`` (import it from
``infogap.server.plugin``) and named after the specifications below, published in the
``infogap`` entry-point group::

    [project.entry-points.infogap]
    my_plugin = "my_package.my_module"

Hooks are called once, when the server starts, in two phases:

1. **Configuration.** ``infogap_plugin_config_model`` names the plugin's own pydantic config
   model; the host validates the plugin's options against it (a bad option fails start).
2. **Registration.** The ``infogap_register_*`` hooks *register* objects (models, rerankers,
   guards, profile contributors); the request path then calls those objects directly. Each
   hook receives the plugin's validated ``config`` and only the host facts it needs, never the
   server's whole settings.

Implementations may accept fewer arguments than a specification names, so new arguments can be
added without breaking existing plugins. Only functions prefixed ``infogap_`` are hooks.

.. versionadded:: 0.1
.. versionchanged:: 0.3
   Hooks receive the plugin's own validated ``config`` instead of the server ``settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from infogap.server.config import FeatureSettings, PrivacySettings
    from infogap.server.core.plugins.capabilities import ItemFeedback
    from infogap.server.core.plugins.protocols import (
        AggregateGuard,
        ModelTrainer,
        PrivacyGuard,
        ProfileContributor,
        Reranker,
    )
    from infogap.server.core.privacy.ledger import BudgetLedger

PROJECT_NAME = "infogap"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- configuration ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def infogap_plugin_config_model() -> type[BaseModel] | None:
    """Name the pydantic model of this plugin's options.

    Called once per plugin at start, before any ``infogap_register_*`` hook. The host validates
    the plugin's options against the model: a third-party plugin's come from
    ``[plugin_config.<plugin name>]`` of the server config (or ``INFOGAP_PLUGIN_CONFIG__<NAME>__
    <FIELD>``); the built-in ``lightfm`` and ``popularity`` plugins read their own sections
    (``[lightfm]``, ``[popularity]``). A bad option fails start with a ``StartupError`` naming
    the plugin, the field and the reason. The validated instance is handed to every register
    hook of the plugin as ``config``. A plugin without this hook gets ``config=None`` and may
    take no options.

    Stops at the first non-None result (each plugin is asked on its own).

    :return: a ``pydantic.BaseModel`` subclass, or None for a plugin without options.

    .. versionadded:: 0.3
    """


# -- registration -----------------------------------------------------------------------------


@hookspec
def infogap_register_models(
    register: Callable[[ModelTrainer], None],
    config: BaseModel | None,
    features: FeatureSettings,
) -> None:
    """Register recommendation strategies (model trainers).

    Called once at start. Each registered ``ModelTrainer`` is trained by ``Train`` on every
    catalog, and its ``TrainedModel`` serves in the order given by ``serving.strategy_order``:
    for each request the first model whose ``score_user`` does not return None answers, so a
    personalized model should return None for users it cannot score and leave them to the
    cold-start strategy.

    :param register: call with each ``ModelTrainer`` to add; a ``strategy`` name already
        registered raises ``ValueError``.
    :param config: this plugin's options, an instance of the model named by
        ``infogap_plugin_config_model`` (None without one).
    :param features: which user and item attributes are features (``[features]``): what
        ``TrainingData``'s feature matrices were built from, and what ``user_feature_names``
        should be given to name a request's user features the same way.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3
       ``config`` and ``features`` replace ``settings``.
    """


@hookspec
def infogap_register_rerankers(
    register: Callable[[Reranker], None], config: BaseModel | None, item_feedback: ItemFeedback
) -> None:
    """Register rerankers: business rules, diversity, exploration, applied after scoring.

    Called once at start. For each Recommend call the top ``count * serving.rerank_depth_factor``
    eligible candidates (already filtered: active, not seen, tag and id filters) pass through every
    reranker in ascending ``Reranker.order``; the first ``count`` of the result are returned.

    :param register: call with each ``Reranker`` to add.
    :param config: this plugin's options (see ``infogap_plugin_config_model``), or None.
    :param item_feedback: reads each item's impressions, clicks and other events from the store
        (``ItemFeedback.exposure``); one query over the catalog's events, so a reranker calls it
        periodically and keeps the counts, never per request.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3
       ``config`` replaces ``settings``.
    .. versionchanged:: 0.4
       The ``item_feedback`` argument.
    """


@hookspec
def infogap_register_aggregate_guards(
    register: Callable[[AggregateGuard], None], config: BaseModel | None
) -> None:
    """Register guards that every aggregate mixing many users passes through before release.

    Called once at start. Aggregates (such as the popularity counts that cold-start users are
    shown) are handed to each guard in ascending ``AggregateGuard.order``, and then to the
    privacy guard (``infogap_register_privacy_guard``), which always comes last whatever the
    orders declared here.

    :param register: call with each ``AggregateGuard`` to add.
    :param config: this plugin's options (see ``infogap_plugin_config_model``), or None.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       The ``ledger`` argument.
    .. versionchanged:: 0.3
       ``config`` replaces ``settings``; ``ledger`` moved to ``infogap_register_privacy_guard``.
    """


@hookspec
def infogap_register_privacy_guard(
    register: Callable[[PrivacyGuard], None],
    config: BaseModel | None,
    policy: PrivacySettings,
    ledger: BudgetLedger,
) -> None:
    """Register the privacy guard: the fixed last stage of the aggregate pipeline.

    Called once at start. The guard sees every aggregate after all ordinary guards and is the
    last thing applied before release (noise must come last). A server has at most one: a second
    registration fails start with a ``StartupError`` naming both plugins. With
    ``privacy.enabled`` set and no privacy guard registered, the server refuses to start. The
    built-in ``differential_privacy`` plugin registers one.

    :param register: call with the ``PrivacyGuard`` to add (at most once per server).
    :param config: this plugin's options (see ``infogap_plugin_config_model``), or None.
    :param policy: the server's privacy policy (``[privacy]``): whether privacy is on, the
        budget per window, the epsilon per release, the contribution bound, what to do when the
        budget is spent. A guard should register only when ``policy.enabled``.
    :param ledger: the server's privacy-budget ledger (``BudgetLedger``, persisted in the
        store): record each release with ``ledger.spend`` (it raises ``BudgetExhausted`` when
        the window's budget cannot pay) and reuse an earlier noisy result through
        ``ledger.last_release`` and ``ledger.record_reuse``.
    :return: nothing; the guard is collected through ``register``.

    .. versionadded:: 0.3
    """


@hookspec
def infogap_register_profile_contributors(
    register: Callable[[ProfileContributor], None], config: BaseModel | None
) -> None:
    """Register contributors that build profiles: behaviour, interests, segments, your fields.

    Called once at start. For every profile served (``GetProfile``, ``GetProfiles``), each
    contributor in ascending ``ProfileContributor.order`` fills its part of a ``ProfileDraft``
    from the user's computed facts; third-party contributors add named JSON values to
    ``draft.extra`` (e.g. a churn score from a team's own model).

    :param register: call with each ``ProfileContributor`` to add.
    :param config: this plugin's options (see ``infogap_plugin_config_model``), or None.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.2
    .. versionchanged:: 0.3
       ``config`` replaces ``settings``.
    """
