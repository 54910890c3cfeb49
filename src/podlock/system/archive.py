"""A Debian archive's package index, verified: ``InRelease`` (signature checked with ``gpgv``
against the keyrings the base's apt trusts) → its SHA256 of ``Packages.xz`` → the packages.

Trust: only what the signed part of ``InRelease`` says is used, and every ``Packages`` file is
checked against it. The parsed index (just the fields resolution needs) is cached under the
podlock cache by the ``Packages`` file's sha256, so a lock against an unchanged archive reads
one small signed file from the network and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Deb822, Packages

from podlock import http
from podlock.atomic import write_entry
from podlock.errors import PodlockError
from podlock.paths import cache_dir
from podlock.reporter import Reporter
from podlock.system.distro import Distribution, Source

FIELDS = ("Package", "Version", "Architecture", "Depends", "Pre-Depends", "Provides",
          "Filename", "Size", "SHA256", "Multi-Arch", "Priority", "Essential", "Important",
          # only for the order in which apt's cache meets package names (solve.index_of)
          "Conflicts", "Breaks", "Recommends", "Suggests", "Replaces", "Enhances")  # fmt: skip
INDEX_FORMAT = 3  # bump when the cached index's shape changes


class ArchiveError(PodlockError):
    """An archive podlock could not reach, or whose index it could not verify."""


@dataclass(frozen=True, kw_only=True)
class Release:
    source: Source
    date: str
    origin: str
    sha256: dict[str, tuple[str, int]]  # path under dists/SUITE -> (sha256, size)


def candidates(
    dist: Distribution, arch: str, session: http.Client, reporter: Reporter
) -> tuple[list[dict[str, Any]], list[Release]]:
    """Every package stanza (FIELDS only, ``Filename`` made a full URL) of the base's sources
    for ``arch``, plus the verified Release of each source."""
    out: list[dict[str, Any]] = []
    releases = []
    for source in dist.sources:
        release = verified_release(dist, source, session)
        releases.append(release)
        for component in source.components:
            for name in (f"{component}/binary-{arch}/Packages", f"{component}/binary-all/Packages"):
                entries = _packages(source, release, name, session, reporter)
                for entry in entries:
                    entry["url"] = f"{source.uri}/{entry.pop('Filename')}"
                out += entries
    return out, releases


def verified_release(dist: Distribution, source: Source, session: http.Client) -> Release:
    """``InRelease`` of ``source``, its signature checked; only its signed text is parsed."""
    url = f"{source.uri}/dists/{source.suite}/InRelease"
    data = _get(url, session, what=f"the index of {source}")
    keyrings = dist.trusted(source)
    if not keyrings:
        raise ArchiveError(
            f"no keyring in the base image to verify {source} (signed-by "
            f"{', '.join(source.signed_by) or 'apt trusted.gpg.d'})",
            hint="use a base with its distribution's archive keyring installed",
        )
    signed = _gpgv(data, keyrings, url)
    para = Deb822(signed.decode("utf-8", "replace").splitlines(True))
    sums: dict[str, tuple[str, int]] = {}
    for line in para.get("SHA256", "").splitlines():
        parts = line.split()
        if len(parts) == 3:
            sums[parts[2]] = (parts[0], int(parts[1]))
    return Release(source=source, date=para.get("Date", ""), origin=para.get("Origin", ""),
                   sha256=sums)  # fmt: skip


def _gpgv(data: bytes, keyrings: Sequence[bytes], url: str) -> bytes:
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise ArchiveError(
            f"cannot verify {url}: gpgv is not installed",
            hint="install gpgv (apt-get install gpgv) to lock system packages; building from "
            "an existing lock does not need it",
        )
    with tempfile.TemporaryDirectory(prefix="podlock-gpgv-") as tmp:
        args = [gpgv, "--homedir", tmp, "--status-fd", "1"]
        for i, keyring in enumerate(keyrings):
            path = Path(tmp, f"keyring{i}.gpg")
            path.write_bytes(keyring)
            args += ["--keyring", str(path)]
        signed = Path(tmp, "signed")
        inrelease = Path(tmp, "InRelease")
        inrelease.write_bytes(data)
        done = subprocess.run(
            [*args, "--output", str(signed), str(inrelease)], capture_output=True, check=False
        )
        status = done.stdout.decode(errors="replace")
        if "[GNUPG:] VALIDSIG" not in status or "[GNUPG:] BADSIG" in status:
            raise ArchiveError(
                f"{url}: the signature does not verify with the base's keyrings "
                f"({done.stderr.decode(errors='replace').strip()[-300:]})",
                hint="the mirror or the network served something the archive did not sign",
            )
        return signed.read_bytes()


def _packages(
    source: Source, release: Release, name: str, session: http.Client, reporter: Reporter
) -> list[dict[str, Any]]:
    for suffix in (".xz", ".gz", ""):
        if name + suffix in release.sha256:
            sha, size = release.sha256[name + suffix]
            break
    else:
        return []  # e.g. binary-all when the archive folds it into binary-ARCH
    memo = cache_dir() / "debian" / "indexes" / f"{sha}.json"
    try:
        saved = json.loads(memo.read_text())
        if saved.get("format") == INDEX_FORMAT:
            return list(saved["packages"])
    except (FileNotFoundError, ValueError):
        pass
    url = f"{source.uri}/dists/{source.suite}/{name}{suffix}"
    reporter.info(f"system packages: fetching {url} ({size / 1e6:.1f} MB)")
    data = _get(url, session, what=f"the package list of {source}")
    got = hashlib.sha256(data).hexdigest()
    if got != sha or len(data) != size:
        raise ArchiveError(
            f"{url} has sha256 {got} ({len(data)} bytes); the signed Release says {sha} ({size})",
            hint="the mirror may be mid-update: try again in a few minutes",
        )
    if suffix == ".xz":
        data = lzma.decompress(data)
    elif suffix == ".gz":
        import gzip

        data = gzip.decompress(data)
    entries = []
    for para in Packages.iter_paragraphs(data.decode("utf-8", "replace").splitlines(True),
                                         use_apt_pkg=False):  # fmt: skip
        entry = {k: para[k] for k in FIELDS if k in para}
        if {"Package", "Version", "Filename", "SHA256", "Size"} <= set(entry):
            entries.append(entry)
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_entry(memo, json.dumps({"format": INDEX_FORMAT, "packages": entries}).encode())
    return entries


def _get(url: str, session: http.Client, *, what: str) -> bytes:
    try:
        return session.get(url)
    except http.Refused as exc:
        raise ArchiveError(f"cannot fetch {what}: {url} answered HTTP {exc.status}") from None
    except http.HttpError as exc:
        raise ArchiveError(
            f"cannot fetch {what}: {exc.message}",
            hint="locking system packages needs the distribution's mirror; check the network",
        ) from None
