"""Replicas sharing model versions through a file:// artifact store: a version trained on one
server is fetched, verified and served by another with its own data directory, a tampered one
is refused, and an erasure reaches the shared copy.

DuckDB cannot be opened by two servers at once, so the other replica reads a copy of the
trainer's database file, taken after the trainer stopped: the same records a shared store
would hold.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infogap.client import Client
from infogap.server.cli import app
from infogap.server.config import Settings
from infogap.server.core.errors import FailedPrecondition
from infogap.server.core.models.artifacts import MANIFEST_FILE, ArtifactStore, matches
from infogap.server.core.models.exposure import StoredItemFeedback
from infogap.server.core.models.lifecycle import ModelLifecycle
from infogap.server.core.plugins.host import PluginHost
from infogap.server.core.privacy.ledger import PrivacyLedger
from infogap.server.core.store import DATABASE_FILE, DuckDBStore

from ..conftest import EXTRA_MODEL_PLUGINS, FAST_LIGHTFM, load, make_settings
from .test_erasure import ERASED, PURCHASES, holds
from .test_feedback import free_port, wait_until_serving

CATALOG = "default"
EVERY_RUN_PROMOTED = {"validation_fraction": 0}


def lists_of(client: Client, user_ids: list[str]) -> dict[str, list[tuple[str, float]]]:
    return {
        user: [(i.item_id, round(i.score, 6)) for i in client.recommend(user, count=8).items]
        for user in user_ids
    }


def copy_database(trainer: Path, replica: Path) -> None:
    """The replica's store: the trainer's records, as a shared store would hold them."""
    replica.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trainer / DATABASE_FILE, replica / DATABASE_FILE)


def open_lifecycle(settings: Settings) -> tuple[ModelLifecycle, DuckDBStore]:
    """A replica's lifecycle on its own data directory, with the installed model plugins."""
    store = DuckDBStore(settings.data_dir)
    registrations = PluginHost(settings).collect_registrations(
        PrivacyLedger(store, settings.privacy), StoredItemFeedback(store)
    )
    lifecycle = ModelLifecycle(
        settings,
        store,
        registrations.trainers,
        registrations.aggregate_stages(),
        lambda user_ids: {},
        ArtifactStore.from_settings(settings.artifacts),
    )
    return lifecycle, store


def test_a_version_trained_on_one_replica_serves_on_another(start_server, tastes, tmp_path):
    artifacts = {"url": f"file://{tmp_path / 'shared'}"}
    trainer_dir, replica_dir = tmp_path / "trainer", tmp_path / "replica"
    users = [u["user_id"] for u in tastes.users[:6]]
    trainer = start_server(data_dir=trainer_dir, artifacts=artifacts)
    with Client(trainer.address) as client:
        load(client, tastes)
        version = client.train().decision.candidate_version
        expected = lists_of(client, users)
        checksum = trainer.core._store.version_checksum(CATALOG, version)
    trainer.stop(grace=0)
    shared_version = tmp_path / "shared" / CATALOG / version
    assert checksum == hashlib.sha256((shared_version / MANIFEST_FILE).read_bytes()).hexdigest()

    copy_database(trainer_dir, replica_dir)
    replica = start_server(data_dir=replica_dir, artifacts=artifacts)
    with Client(replica.address) as client:
        assert [m.version for m in client.model_info().models] == [version, version]
        assert lists_of(client, users) == expected
    assert matches(replica_dir / "models" / CATALOG / version, checksum)


def test_a_tampered_version_is_refused_and_the_served_one_kept(
    start_server, tastes, tmp_path, caplog
):
    artifacts = {"url": f"file://{tmp_path / 'shared'}"}
    trainer_dir, replica_dir = tmp_path / "trainer", tmp_path / "replica"
    trainer = start_server(data_dir=trainer_dir, artifacts=artifacts, lifecycle=EVERY_RUN_PROMOTED)
    with Client(trainer.address) as client:
        load(client, tastes)
        first = client.train().decision.candidate_version
    trainer.stop(grace=0)
    copy_database(trainer_dir, replica_dir)
    settings = make_settings(replica_dir, artifacts=artifacts)
    lifecycle, store = open_lifecycle(settings)
    try:
        loaded = lifecycle.load_catalog_serving(CATALOG)
        assert loaded is not None and loaded.version == first
        assert [m.strategy for m in loaded.models] == ["lightfm", "popularity"]
    finally:
        store.close()
    kept = replica_dir / "models" / CATALOG / first
    kept_files = {p: p.read_bytes() for p in kept.rglob("*") if p.is_file()}

    # The trainer trains again; a byte of the new version changes in the shared store.
    trainer = start_server(data_dir=trainer_dir, artifacts=artifacts, lifecycle=EVERY_RUN_PROMOTED)
    with Client(trainer.address) as client:
        second = client.train().decision.candidate_version
    trainer.stop(grace=0)
    copy_database(trainer_dir, replica_dir)
    tampered = tmp_path / "shared" / CATALOG / second / "items.npy"
    original = tampered.read_bytes()
    tampered.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))

    lifecycle, store = open_lifecycle(settings)
    try:
        message = f"artifact of {CATALOG} {second} does not match its recorded checksum"
        with pytest.raises(FailedPrecondition, match=message):
            lifecycle.load_catalog_serving(CATALOG)
        with pytest.raises(FailedPrecondition, match=message):
            lifecycle.load_version(CATALOG, second)
        with caplog.at_level(logging.ERROR):
            assert lifecycle.load_serving() == []
        assert message in caplog.text
        # Nothing of the refused version is left, and the one served before is as it was.
        assert sorted(p.name for p in kept.parent.iterdir()) == [first]
        assert {p: p.read_bytes() for p in kept.rglob("*") if p.is_file()} == kept_files
        assert lifecycle.load_version(CATALOG, first).version == first

        tampered.write_bytes(original)
        loaded = lifecycle.load_catalog_serving(CATALOG)
        assert loaded is not None and loaded.version == second
        assert matches(kept.parent / second, store.version_checksum(CATALOG, second) or "")
    finally:
        store.close()


def test_an_erasure_rewrites_the_shared_copy_and_its_checksum(start_server, tastes, tmp_path):
    shared = tmp_path / "shared"
    server = start_server(
        data_dir=tmp_path / "data",
        artifacts={"url": f"file://{shared}"},
        lifecycle=EVERY_RUN_PROMOTED,
    )
    with Client(server.address) as client:
        load(client, tastes)
        client.record(
            [{"user_id": ERASED, "item_id": i, "type": "purchase", "value": 1.0} for i in PURCHASES]
        )
        old = client.train().decision.candidate_version
        version = client.train().decision.candidate_version
        users_file = shared / CATALOG / version / "users.npy"
        assert holds(users_file, ERASED)
        before = server.core._store.version_checksum(CATALOG, version)

        client.delete_user(ERASED)

    assert not holds(users_file, ERASED)
    assert len(np.load(users_file, allow_pickle=False)) == len(tastes.users)
    assert not (shared / CATALOG / old).exists()  # older versions go everywhere
    remote_files = [p for p in (shared / CATALOG / version).rglob("*") if p.is_file()]
    assert not [p for p in remote_files if holds(p, ERASED)]
    manifest_bytes = (shared / CATALOG / version / MANIFEST_FILE).read_bytes()
    checksum = server.core._store.version_checksum(CATALOG, version)
    assert checksum != before
    assert checksum == hashlib.sha256(manifest_bytes).hexdigest()
    assert matches(shared / CATALOG / version, checksum)
    assert json.loads(manifest_bytes).keys() == {
        p.relative_to(shared / CATALOG / version).as_posix()
        for p in remote_files
        if p.name != MANIFEST_FILE
    }


def test_serve_publishes_to_the_artifact_store_it_is_given(tastes, tmp_path):
    shared = tmp_path / "shared"
    port = free_port()
    config = tmp_path / "infogap.toml"  # the models of the other tests, for their speed
    config.write_text(
        f"plugins.disabled = {json.dumps(list(EXTRA_MODEL_PLUGINS))}\n"
        f"lightfm = {{ epochs = {FAST_LIGHTFM['epochs']}, no_components = 16 }}\n"
    )
    command = [sys.executable, "-m", "infogap.server", "serve", "--config", str(config)]
    command += ["--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--artifacts", f"file://{shared}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            wait_until_serving(client)
            load(client, tastes)
            version = client.train().decision.candidate_version
    finally:
        process.terminate()
        process.wait(timeout=30)
    published = shared / CATALOG / version
    assert matches(published, sha256_of(published))  # every file of the manifest, whole
    manifest = json.loads((published / MANIFEST_FILE).read_bytes())
    assert {"items.npy", "users.npy"} <= manifest.keys()
    assert {name.split("/")[0] for name in manifest if "/" in name} == {"lightfm", "popularity"}


def test_serve_refuses_an_artifact_url_of_another_scheme(tmp_path):
    result = CliRunner().invoke(
        app, ["serve", "--data-dir", str(tmp_path), "--artifacts", "ftp://host/models"]
    )
    assert result.exit_code == 1
    assert "artifacts.url must start with file:// or s3://" in " ".join(result.output.split())


def sha256_of(version_dir: Path) -> str:
    return hashlib.sha256((version_dir / MANIFEST_FILE).read_bytes()).hexdigest()


def test_a_version_recorded_before_checksums_is_served_as_found(start_server, tastes, tmp_path):
    artifacts = {"url": f"file://{tmp_path / 'shared'}"}
    trainer_dir = tmp_path / "trainer"
    trainer = start_server(data_dir=trainer_dir, artifacts=artifacts)
    with Client(trainer.address) as client:
        load(client, tastes)
        version = client.train().decision.candidate_version
        # As a row written before migration 7 reads.
        trainer.core._store.cursor().execute("UPDATE models SET checksum = NULL")
    trainer.stop(grace=0)
    shutil.rmtree(tmp_path / "shared")  # nothing to fetch: the local folder serves
    lifecycle, store = open_lifecycle(make_settings(trainer_dir, artifacts=artifacts))
    try:
        assert store.version_checksum(CATALOG, version) == ""
        loaded = lifecycle.load_catalog_serving(CATALOG)
        assert loaded is not None and loaded.version == version
    finally:
        store.close()
