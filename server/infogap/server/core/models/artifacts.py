"""Model versions in a shared artifact store (``file://`` or ``s3://``, through fsspec), verified
by checksum and swapped into the local models folder atomically.

A version's ``MANIFEST.json`` lists every file of its folder (relative path -> sha256 and size);
the sha256 of the manifest's bytes is the version's checksum, which the store records. The
trainer uploads the files, then the manifest last, so a manifest in the artifact store always
describes files that were uploaded whole. A replica downloads into a temporary sibling folder,
checks the manifest against the recorded checksum and each file against the manifest, and only
then renames the folder into place: a local version folder is never half-written or unverified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from infogap.server.config import ArtifactSettings
from infogap.server.core.errors import FailedPrecondition, Unavailable

log = logging.getLogger(__name__)

MANIFEST_FILE = "MANIFEST.json"
# Folders beside the versions that are not versions: downloads under way and swapped-out copies.
TEMPORARY_PREFIX = "."

Manifest = dict[str, dict[str, Any]]  # relative path -> {"sha256": hex, "size": bytes}


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def manifest_of(version_dir: Path) -> Manifest:
    """Every file under ``version_dir`` (but the manifest) with its sha256 and size."""
    return {
        path.relative_to(version_dir).as_posix(): {
            "sha256": file_sha256(path),
            "size": path.stat().st_size,
        }
        for path in sorted(version_dir.rglob("*"))
        if path.is_file() and path.relative_to(version_dir).as_posix() != MANIFEST_FILE
    }


def seal(version_dir: Path) -> str:
    """Writes the manifest of ``version_dir`` into it (through a rename) and returns its
    checksum: what the store records for the version, so that any copy can be verified."""
    text = json.dumps(manifest_of(version_dir), indent=1, sort_keys=True).encode()
    fresh = version_dir / (MANIFEST_FILE + ".new")
    fresh.write_bytes(text)
    fresh.replace(version_dir / MANIFEST_FILE)
    return hashlib.sha256(text).hexdigest()


def matches(version_dir: Path, checksum: str) -> bool:
    """Whether ``version_dir`` holds a manifest with ``checksum`` and exactly its files."""
    manifest_file = version_dir / MANIFEST_FILE
    if not manifest_file.is_file():
        return False
    text = manifest_file.read_bytes()
    if hashlib.sha256(text).hexdigest() != checksum:
        return False
    return bool(manifest_of(version_dir) == json.loads(text))


class ArtifactStore:
    """Model version folders under one fsspec URL: ``<url>/<catalog>/<version>/<file>``."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        """``storage_options`` go to the fsspec filesystem (for s3: ``endpoint_url``, ``key``,
        ``secret``; credentials left out come from the AWS_* environment variables)."""
        self.url = url
        filesystem, root = fsspec.core.url_to_fs(url, **storage_options)
        self._fs: AbstractFileSystem = filesystem
        self._root = root.rstrip("/")

    @classmethod
    def from_settings(cls, settings: ArtifactSettings) -> ArtifactStore | None:
        """The configured artifact store, or None when ``settings.url`` is not set."""
        if settings.url is None:
            return None
        if settings.url.startswith("file://"):
            return cls(settings.url, auto_mkdir=True)
        options = {
            "endpoint_url": settings.s3_endpoint_url,
            "key": settings.s3_key,
            "secret": settings.s3_secret,
        }
        return cls(settings.url, **{k: v for k, v in options.items() if v is not None})

    def publish(self, catalog: str, version: str, local_version_dir: Path) -> str:
        """Seals ``local_version_dir`` and uploads its files, then its manifest; returns the
        version's checksum (the manifest's sha256).

        :raises Unavailable: when the artifact store cannot be written.
        """
        checksum = seal(local_version_dir)
        remote = self._version_path(catalog, version)
        manifest = json.loads((local_version_dir / MANIFEST_FILE).read_bytes())
        try:
            for relative in manifest:
                self._fs.put_file(str(local_version_dir / relative), f"{remote}/{relative}")
            # Last: a manifest present means every file it lists was uploaded whole.
            self._fs.put_file(str(local_version_dir / MANIFEST_FILE), f"{remote}/{MANIFEST_FILE}")
        except OSError as error:
            raise Unavailable(
                f"cannot publish model version {version!r} of {catalog!r} to {self.url}: {error}"
            ) from error
        return checksum

    def fetch(self, catalog: str, version: str, checksum: str, local_version_dir: Path) -> None:
        """Makes ``local_version_dir`` a verified copy of the published version with
        ``checksum``: nothing to do when it already is one; otherwise downloads into a fresh
        sibling folder, verifies it whole and renames it into place.

        :raises FailedPrecondition: when the published manifest or a file does not match
            (``local_version_dir`` is left as it was), or the version is not published.
        :raises Unavailable: when the artifact store cannot be read.
        """
        if matches(local_version_dir, checksum):
            return
        local_version_dir.parent.mkdir(parents=True, exist_ok=True)
        download = self._sibling(local_version_dir, "fetch")
        try:
            self._download(catalog, version, checksum, download)
            self._swap(download, local_version_dir)
        finally:
            shutil.rmtree(download, ignore_errors=True)
        log.info("fetched model version %s of %r from %s", version, catalog, self.url)

    def delete(self, catalog: str, version: str) -> None:
        """Deletes a published version (nothing happens for one that is not published).

        :raises Unavailable: when the artifact store cannot be written.
        """
        remote = self._version_path(catalog, version)
        try:
            self._fs.invalidate_cache()
            if self._fs.exists(remote):
                self._fs.rm(remote, recursive=True)
        except OSError as error:
            raise Unavailable(
                f"cannot delete model version {version!r} of {catalog!r} from {self.url}: {error}"
            ) from error

    def versions(self) -> set[tuple[str, str]]:
        """The (catalog, version) pairs published: folders holding something.

        :raises Unavailable: when the artifact store cannot be listed.
        """
        try:
            self._fs.invalidate_cache()
            if not self._fs.exists(self._root):
                return set()
            return {
                (_name(catalog_path), _name(version_path))
                for catalog_path in self._folders(self._root)
                for version_path in self._folders(catalog_path)
            }
        except OSError as error:
            raise Unavailable(f"cannot list the artifact store {self.url}: {error}") from error

    # -- inside ------------------------------------------------------------------------------

    def _folders(self, path: str) -> list[str]:
        return [e["name"] for e in self._fs.ls(path, detail=True) if e["type"] == "directory"]

    def _version_path(self, catalog: str, version: str) -> str:
        return f"{self._root}/{catalog}/{version}"

    def _download(self, catalog: str, version: str, checksum: str, into: Path) -> None:
        remote = self._version_path(catalog, version)
        mismatch = FailedPrecondition(
            f"artifact of {catalog} {version} does not match its recorded checksum"
        )
        into.mkdir()
        try:
            text = self._fs.cat_file(f"{remote}/{MANIFEST_FILE}")
        except FileNotFoundError as error:
            raise FailedPrecondition(
                f"artifact of {catalog} {version} is not in the artifact store {self.url}"
            ) from error
        except OSError as error:
            raise Unavailable(f"cannot read the artifact store {self.url}: {error}") from error
        if hashlib.sha256(text).hexdigest() != checksum:
            raise mismatch
        manifest: Manifest = json.loads(text)
        for relative, expected in manifest.items():
            target = into / relative
            if not target.resolve().is_relative_to(into.resolve()):
                raise mismatch  # a manifest naming files outside the folder is not ours
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._fs.get_file(f"{remote}/{relative}", str(target))
            except FileNotFoundError as error:
                raise mismatch from error
            except OSError as error:
                raise Unavailable(f"cannot read the artifact store {self.url}: {error}") from error
            if (target.stat().st_size, file_sha256(target)) != (
                expected["size"],
                expected["sha256"],
            ):
                raise mismatch
        (into / MANIFEST_FILE).write_bytes(text)

    def _swap(self, download: Path, local_version_dir: Path) -> None:
        """Renames ``download`` to ``local_version_dir``, the folder there first moved aside."""
        aside = self._sibling(local_version_dir, "old")
        if local_version_dir.exists():
            local_version_dir.rename(aside)
        download.rename(local_version_dir)
        shutil.rmtree(aside, ignore_errors=True)

    @staticmethod
    def _sibling(local_version_dir: Path, purpose: str) -> Path:
        name = f"{TEMPORARY_PREFIX}{local_version_dir.name}.{purpose}-{uuid.uuid4().hex[:8]}"
        return local_version_dir.with_name(name)


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
