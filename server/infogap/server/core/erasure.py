"""``Erasure``: the DeleteUser use case, across every room that knows a user."""

from __future__ import annotations

import logging

from infogap.server.core.domain import ErasureReceipt, utc_now
from infogap.server.core.errors import NotFound
from infogap.server.core.experiments.service import Experiments
from infogap.server.core.models.event_types import CachedEventTypes
from infogap.server.core.models.registry import ServingRegistry
from infogap.server.core.models.train import Training
from infogap.server.core.profiles.service import Profiles
from infogap.server.core.store import Store

log = logging.getLogger(__name__)


class Erasure:
    """Forgets users: stored rows, experiment assignments, caches, serving state, model files."""

    def __init__(
        self,
        store: Store,
        experiments: Experiments,
        registry: ServingRegistry,
        profiles: Profiles,
        training: Training,
        event_types: CachedEventTypes | None = None,
    ) -> None:
        self._store = store
        self._event_types = event_types
        self._experiments = experiments
        self._registry = registry
        self._profiles = profiles
        self._training = training

    def delete_user(self, user_id: str) -> ErasureReceipt:
        """Forgets a user (``user_id`` already validated), then answers with what went.
        Catalogs with a model that cannot forget are retrained in the background.

        :raises NotFound: when nothing is stored about the user.
        """
        self._experiments.forget(user_id)
        removed = dict(self._store.delete_user(user_id))
        if not any(removed.values()):
            raise NotFound(f"user {user_id!r} is unknown")
        from_models, to_retrain = self._registry.forget_user(user_id)
        removed.update(from_models)
        self._profiles.invalidate([user_id])
        if self._event_types is not None:
            self._event_types.forget([user_id])
        if to_retrain:
            log.warning("a model of %s cannot forget users; retraining", sorted(to_retrain))
            self._training.retrain_later(to_retrain)
        return ErasureReceipt(user_id, removed, utc_now())

    def forget_erased_elsewhere(self, user_id: str) -> None:
        """Forgets, from this replica's memory, a user another replica of the shared store
        erased: that one deleted the rows and rewrote the model files (which reach this
        replica as a changed version checksum)."""
        self._experiments.forget(user_id)
        self._registry.forget_user(user_id, rewrite_files=False)
        self._profiles.invalidate([user_id])
        if self._event_types is not None:
            self._event_types.forget([user_id])
