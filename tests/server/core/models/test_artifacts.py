"""The artifact store on real storage: a shared folder (file://) and a local S3-compatible server
(moto's, s3://). Publishing, fetching, verification against the recorded checksum, deletion."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infogap.server.config import ArtifactSettings, load_settings
from infogap.server.core.errors import FailedPrecondition, Unavailable
from infogap.server.core.models.artifacts import MANIFEST_FILE, ArtifactStore, matches, seal

CATALOG, VERSION = "books", "20260101T000000000000Z"
S3_CREDENTIALS = {"s3_key": "testing", "s3_secret": "testing"}


def make_version(folder: Path, users: bytes = b"u1 u2 u3") -> Path:
    """A version folder as the lifecycle writes one: files at the top and in a strategy's."""
    (folder / "lightfm").mkdir(parents=True)
    (folder / "items.npy").write_bytes(b"i1 i2")
    (folder / "users.npy").write_bytes(users)
    (folder / "lightfm" / "model.npz").write_bytes(bytes(range(256)) * 40)
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def shared(tmp_path: Path) -> ArtifactStore:
    store = ArtifactStore.from_settings(ArtifactSettings(url=f"file://{tmp_path / 'shared'}"))
    assert store is not None
    return store


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = f"models-{abs(hash(request.node.name)) % 10**8}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str):  # boto3 builds its client types at run time
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def test_publish_uploads_every_file_and_the_manifest_whose_sha256_is_the_checksum(tmp_path, shared):
    local = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    checksum = shared.publish(CATALOG, VERSION, local)
    remote = tmp_path / "shared" / CATALOG / VERSION
    manifest_bytes = (remote / MANIFEST_FILE).read_bytes()
    assert checksum == hashlib.sha256(manifest_bytes).hexdigest()
    assert json.loads(manifest_bytes) == {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in contents(local).items()
        if name != MANIFEST_FILE
    }
    assert contents(remote) == contents(local)  # the local folder holds its manifest too
    assert shared.versions() == {(CATALOG, VERSION)}


def test_fetch_makes_a_verified_copy_and_then_has_nothing_to_do(tmp_path, shared):
    local = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    checksum = shared.publish(CATALOG, VERSION, local)
    replica = tmp_path / "replica" / CATALOG / VERSION
    shared.fetch(CATALOG, VERSION, checksum, replica)
    assert contents(replica) == contents(local)
    assert matches(replica, checksum)
    inode = (replica / "users.npy").stat().st_ino
    shared.fetch(CATALOG, VERSION, checksum, replica)
    assert (replica / "users.npy").stat().st_ino == inode  # not downloaded again
    # A local file changed by accident is repaired from the artifact store.
    (replica / "items.npy").write_bytes(b"i1 i2 extra")
    assert not matches(replica, checksum)
    shared.fetch(CATALOG, VERSION, checksum, replica)
    assert contents(replica) == contents(local)
    assert sorted(p.name for p in replica.parent.iterdir()) == [VERSION]  # no temporary left


def test_a_tampered_artifact_is_refused_and_the_local_copy_kept(tmp_path, shared):
    trainer = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    first = shared.publish(CATALOG, VERSION, trainer)
    replica = tmp_path / "replica" / CATALOG / VERSION
    shared.fetch(CATALOG, VERSION, first, replica)
    before = contents(replica)
    # The version is rewritten (an erasure) and republished; then a byte of it changes.
    (trainer / "users.npy").write_bytes(b"u1 u3")
    second = shared.publish(CATALOG, VERSION, trainer)
    assert second != first
    remote_users = tmp_path / "shared" / CATALOG / VERSION / "users.npy"
    remote_users.write_bytes(b"u1 u4")
    message = f"artifact of {CATALOG} {VERSION} does not match its recorded checksum"
    with pytest.raises(FailedPrecondition, match=message):
        shared.fetch(CATALOG, VERSION, second, replica)
    assert contents(replica) == before
    assert sorted(p.name for p in replica.parent.iterdir()) == [VERSION]
    # A manifest that is not the recorded one is refused before any file is downloaded.
    remote_users.write_bytes(b"u1 u3")
    with pytest.raises(FailedPrecondition, match=message):
        shared.fetch(CATALOG, VERSION, "0" * 64, replica)
    assert contents(replica) == before
    shared.fetch(CATALOG, VERSION, second, replica)  # restored: it verifies again
    assert contents(replica) == contents(trainer)


def test_a_missing_file_or_version_is_refused(tmp_path, shared):
    local = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    checksum = shared.publish(CATALOG, VERSION, local)
    (tmp_path / "shared" / CATALOG / VERSION / "lightfm" / "model.npz").unlink()
    replica = tmp_path / "replica" / CATALOG / VERSION
    with pytest.raises(FailedPrecondition, match="does not match its recorded checksum"):
        shared.fetch(CATALOG, VERSION, checksum, replica)
    assert not replica.exists()
    with pytest.raises(FailedPrecondition, match="is not in the artifact store"):
        shared.fetch(CATALOG, "missing", checksum, tmp_path / "replica" / CATALOG / "missing")


def test_delete_removes_a_published_version_only(tmp_path, shared):
    for version in ("v1", "v2"):
        shared.publish(CATALOG, version, make_version(tmp_path / "trainer" / CATALOG / version))
    (tmp_path / "shared" / "notes.txt").write_text("not a catalog")
    shared.delete(CATALOG, "v1")
    shared.delete(CATALOG, "never-published")
    assert shared.versions() == {(CATALOG, "v2")}
    assert not (tmp_path / "shared" / CATALOG / "v1").exists()


def test_seal_alone_gives_the_checksum_publish_gives(tmp_path, shared):
    local = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    assert seal(local) == shared.publish(CATALOG, VERSION, local)


def test_s3_round_trip_with_verification(tmp_path, s3_endpoint, bucket):
    settings = ArtifactSettings(
        url=f"s3://{bucket}/infogap", s3_endpoint_url=s3_endpoint, **S3_CREDENTIALS
    )
    trainer_store, replica_store = (ArtifactStore.from_settings(settings) for _ in range(2))
    assert trainer_store is not None and replica_store is not None
    local = make_version(tmp_path / "trainer" / CATALOG / VERSION)
    checksum = trainer_store.publish(CATALOG, VERSION, local)
    client = s3_client(s3_endpoint)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"infogap/{CATALOG}/{VERSION}/{name}" for name in contents(local)}
    replica = tmp_path / "replica" / CATALOG / VERSION
    replica_store.fetch(CATALOG, VERSION, checksum, replica)
    assert contents(replica) == contents(local)
    # Tampered in the bucket and republished under a new checksum: refused, copy kept.
    (local / "users.npy").write_bytes(b"u2")
    second = trainer_store.publish(CATALOG, VERSION, local)
    client.put_object(Bucket=bucket, Key=f"infogap/{CATALOG}/{VERSION}/users.npy", Body=b"u9")
    with pytest.raises(FailedPrecondition, match="does not match its recorded checksum"):
        replica_store.fetch(CATALOG, VERSION, second, replica)
    assert (replica / "users.npy").read_bytes() == b"u1 u2 u3"
    assert replica_store.versions() == {(CATALOG, VERSION)}
    replica_store.delete(CATALOG, VERSION)
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
    assert replica_store.versions() == set()


def test_publishing_to_a_missing_bucket_is_unavailable(tmp_path, s3_endpoint):
    settings = ArtifactSettings(
        url="s3://no-such-bucket/x", s3_endpoint_url=s3_endpoint, **S3_CREDENTIALS
    )
    store = ArtifactStore.from_settings(settings)
    assert store is not None
    with pytest.raises(Unavailable, match="cannot publish model version"):
        store.publish(CATALOG, VERSION, make_version(tmp_path / CATALOG / VERSION))


def test_settings_take_the_url_from_the_environment_and_refuse_other_schemes(monkeypatch):
    assert load_settings().artifacts.url is None
    assert ArtifactStore.from_settings(ArtifactSettings()) is None
    monkeypatch.setenv("INFOGAP_ARTIFACTS__URL", "s3://bucket/prefix")
    monkeypatch.setenv("INFOGAP_ARTIFACTS__S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = load_settings().artifacts
    assert (settings.url, settings.s3_endpoint_url) == (
        "s3://bucket/prefix",
        "http://127.0.0.1:9000",
    )
    with pytest.raises(ValueError, match="must start with file:// or s3://"):
        ArtifactSettings(url="ftp://host/dir")
    with pytest.raises(ValueError, match="names no folder or bucket"):
        ArtifactSettings(url="s3://")
