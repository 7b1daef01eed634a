"""InfoGap's plugin hooks: the public API for plugin authors.

A plugin is a module (or object) with functions decorated by ``hookimpl`` and named after the
specifications below, published in the ``infogap`` entry-point group::

    [project.entry-points.infogap]
    my_plugin = "my_package.my_module"

Hooks are called once, when the server starts, to *register* objects (models, rerankers,
aggregate guards); the request path then calls those objects directly. Implementations may
accept fewer arguments than a specification names, so new arguments can be added without
breaking existing plugins. Only functions prefixed ``infogap_`` are treated as hooks.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from infogap.server.config import Settings
    from infogap.server.core.plugins.protocols import (
        AggregateGuard,
        ModelTrainer,
        ProfileContributor,
        Reranker,
    )
    from infogap.server.core.privacy.ledger import PrivacyLedger

PROJECT_NAME = "infogap"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def infogap_register_models(register: Callable[[ModelTrainer], None], settings: Settings) -> None:
    """Register recommendation strategies (model trainers).

    Called once at start. Each registered ``ModelTrainer`` is trained by ``Train`` on every
    catalog, and its ``TrainedModel`` serves in the order given by ``serving.strategy_order``:
    for each request the first model whose ``score_user`` does not return None answers, so a
    personalized model should return None for users it cannot score and leave them to the
    cold-start strategy.

    :param register: call with each ``ModelTrainer`` to add; a ``strategy`` name already
        registered raises ``ValueError``.
    :param settings: the server settings; plugin options live in ``settings.plugin_config[name]``.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    """


@hookspec
def infogap_register_rerankers(register: Callable[[Reranker], None], settings: Settings) -> None:
    """Register rerankers: business rules, diversity, boosting, applied after scoring.

    Called once at start. For each Recommend call the top ``count * serving.rerank_depth_factor``
    eligible candidates (already filtered: active, not seen, tag and id filters) pass through every
    reranker in ascending ``Reranker.order``; the first ``count`` of the result are returned.

    :param register: call with each ``Reranker`` to add.
    :param settings: the server settings.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    """


@hookspec
def infogap_register_aggregate_guards(
    register: Callable[[AggregateGuard], None], settings: Settings, ledger: PrivacyLedger
) -> None:
    """Register guards that every aggregate mixing many users passes through before release.

    Called once at start. Aggregates (such as the popularity counts that cold-start users are
    shown) are handed to each guard in ascending ``AggregateGuard.order``; a differential-privacy
    guard bounds contributions and adds noise here, and should use a high order so it runs last.

    :param register: call with each ``AggregateGuard`` to add.
    :param settings: the server settings.
    :param ledger: the server's privacy-budget ledger (``PrivacyLedger``, persisted in DuckDB):
        a guard that spends privacy budget records each release with ``ledger.spend`` and may
        reuse an earlier noisy result through ``ledger.last_release``.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       The ``ledger`` argument.
    """


@hookspec
def infogap_register_profile_contributors(
    register: Callable[[ProfileContributor], None], settings: Settings
) -> None:
    """Register contributors that build profiles: behaviour, interests, segments, your fields.

    Called once at start. For every profile served (``GetProfile``, ``GetProfiles``), each
    contributor in ascending ``ProfileContributor.order`` fills its part of a ``ProfileDraft``
    from the user's computed facts; third-party contributors add named JSON values to
    ``draft.extra`` (e.g. a churn score from a team's own model).

    :param register: call with each ``ProfileContributor`` to add.
    :param settings: the server settings.
    :return: nothing; results are collected through ``register``.

    .. versionadded:: 0.2
    """
