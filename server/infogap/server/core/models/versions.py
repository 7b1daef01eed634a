"""``VersionFiles``: the files of model versions, kept in step in three places.

The local folder ``<data_dir>/models/<catalog>/<version>/`` is what models are saved to and
loaded from; the artifact store (when one is configured) is where other replicas fetch it from;
the store records each version's checksum (``core.models.artifacts``), so any copy can be
verified. Every change to a version's files (training, an erasure's rewrite) ends with the
version sealed again, republished and its new checksum recorded.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infogap.server.core.errors import Unavailable
from infogap.server.core.models.artifacts import TEMPORARY_PREFIX, ArtifactStore, seal
from infogap.server.core.plugins.protocols import TrainedModel
from infogap.server.core.store import Store

log = logging.getLogger(__name__)

USERS_FILE = "users.npy"


class VersionFiles:
    """The model version folders under ``models_dir``, published to ``artifacts`` (None: they
    stay local) with their checksums recorded in ``store``."""

    def __init__(self, models_dir: Path, store: Store, artifacts: ArtifactStore | None) -> None:
        self._models_dir = models_dir
        self._store = store
        self._artifacts = artifacts

    def folder(self, catalog: str, version: str) -> Path:
        return self._models_dir / catalog / version

    def publish(self, catalog: str, version: str) -> str:
        """Seals the version's local folder (writes its manifest), uploads it to the artifact
        store if there is one, and returns its checksum for the store to record.

        :raises Unavailable: when the artifact store cannot be written.
        """
        folder = self.folder(catalog, version)
        if self._artifacts is None:
            return seal(folder)
        return self._artifacts.publish(catalog, version, folder)

    def discard(self, catalog: str, version: str) -> None:
        """Deletes what a training run that failed left of its version, here and published."""
        shutil.rmtree(self.folder(catalog, version), ignore_errors=True)
        if self._artifacts is not None:
            try:
                self._artifacts.delete(catalog, version)
            except Unavailable as error:  # the run's own error is the one to report
                log.warning("failed version %s of %r left published: %s", version, catalog, error)

    def make_local(self, catalog: str, version: str) -> None:
        """With an artifact store, makes the local folder a verified copy of the version as
        recorded (downloading it if need be); without one, the local folder is used as it is.
        A version recorded without a checksum (trained before checksums) is used as found.

        :raises FailedPrecondition: when the published copy does not match the recorded
            checksum; the local folder is left as it was.
        :raises Unavailable: when the artifact store cannot be read.
        """
        if self._artifacts is None:
            return
        checksum = self._store.version_checksum(catalog, version)
        if not checksum:
            log.warning("model version %s of %r has no checksum: used as found", version, catalog)
            return
        self._artifacts.fetch(catalog, version, checksum, self.folder(catalog, version))

    def rewrite_models(self, catalog: str, version: str, models: Sequence[TrainedModel]) -> None:
        """Rewrites models' files, each through a fresh directory swapped in by rename so no
        model is ever half-written. ``republish`` afterwards."""
        for model in models:
            target = self.folder(catalog, version) / model.strategy
            fresh = target.with_name(target.name + ".new")
            shutil.rmtree(fresh, ignore_errors=True)
            fresh.mkdir(parents=True)
            model.save(fresh)
            shutil.rmtree(target, ignore_errors=True)
            fresh.rename(target)

    def rewrite_users(self, catalog: str, version: str, users: frozenset[str]) -> None:
        """Rewrites a version's trained users. ``republish`` afterwards."""
        write_users(self.folder(catalog, version), users)

    def republish(self, catalog: str, version: str) -> None:
        """Publishes a version whose files changed and records its new checksum, so replicas
        fetch the new files and verify them.

        :raises Unavailable: when the artifact store cannot be written.
        """
        self._store.set_version_checksum(catalog, version, self.publish(catalog, version))

    def delete_other_versions(self, kept: set[tuple[str, str]]) -> int:
        """Deletes every model version but the ``kept`` (catalog, version) pairs, locally and
        from the artifact store; returns how many local folders went.

        :raises Unavailable: when the artifact store cannot be listed or written.
        """
        deleted = 0
        for catalog_dir in self._models_dir.glob("*"):
            for version_dir in catalog_dir.glob("*"):
                if version_dir.name.startswith(TEMPORARY_PREFIX):
                    continue  # a download under way, not a version
                if (catalog_dir.name, version_dir.name) not in kept:
                    shutil.rmtree(version_dir)
                    deleted += 1
        if self._artifacts is not None:
            for catalog, version in self._artifacts.versions() - kept:
                # A version the store does not record yet is a training run uploading (here or
                # on another replica): deleting its files would fail that run, not erase.
                if self._store.model_version(catalog, version):
                    self._artifacts.delete(catalog, version)
        return deleted


def write_users(version_dir: Path, users: frozenset[str]) -> None:
    """Writes the users a version was trained on."""
    # Through a temporary file and a rename, so a reader never meets half a file.
    fresh = version_dir / (USERS_FILE + ".new")
    with fresh.open("wb") as file:
        np.save(file, np.array(sorted(users), dtype=str), allow_pickle=False)
    fresh.replace(version_dir / USERS_FILE)
