"""The store conformance suite: what every ``Store`` implementation must do, with exact values.

A backend's test module subclasses ``StoreConformance`` and provides two fixtures:

- ``backend``: a ``Backend``, a callable that opens the store kept at a folder (opening the
  same folder again must find the same data);
- ``store``: a store opened by it on an empty folder (``open_store`` makes one).

``test_store_backends.py`` runs it against DuckDB and PostgreSQL; a new backend adds one entry
to its ``BACKENDS``. Every abstract method of ``Store`` is exercised here (a meta-test checks it).
"""

from __future__ import annotations

from tests.server.core.store.conformance.builders import Backend, open_store
from tests.server.core.store.conformance.coordination import Coordination
from tests.server.core.store.conformance.models_experiments import ModelsAndExperiments
from tests.server.core.store.conformance.privacy_erasure import PrivacyAndErasure
from tests.server.core.store.conformance.profiles_segments import ProfilesAndSegments
from tests.server.core.store.conformance.users_events import UsersItemsAndEvents


class StoreConformance(
    UsersItemsAndEvents, ProfilesAndSegments, ModelsAndExperiments, PrivacyAndErasure, Coordination
):
    """Tests every ``Store`` implementation passes. Needs the ``store`` and ``backend``
    fixtures."""


__all__ = ["Backend", "StoreConformance", "open_store"]
