"""Debian resolution scenarios (``scenarios/*.toml``): Packages stanzas in, chosen .debs out,
offline. Each archive is made here and signed with a key made for the session, then read as
podlock reads a mirror (``system.archive``: InRelease verified by gpgv, ``Packages.xz``
checked against it) and resolved (``system.solve``) against the base's dpkg status; where
apt-get is installed, apt 2.6 must choose the same (``apt-get install -s`` on the same
signed archive and status), as the Python resolver's two backends check each other.

A scenario file has ``description``, ``packages`` (what system-packages asks for),
``archive`` (Packages stanzas; ``Architecture`` defaults to amd64, ``Priority`` to optional,
``Filename``, ``Size`` and ``SHA256`` are made up), optionally ``installed`` (the base's dpkg
status stanzas, besides an essential ``dpkg``; ``Status`` and ``Architecture`` filled in; a
package the archive has at the same version needs the archive's relations, as in a real base,
or apt takes the two for different versions), ``preferred`` (versions locked before: apt-get
knows no lock, so it is not asked), and either ``debs`` (the .debs podlock locks, by file
name) or ``error`` (podlock refuses with that text, and a hint; apt-get refuses too).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from debian.deb822 import Deb822

from podlock.errors import PodlockError
from podlock.reporter import NullReporter
from podlock.system.archive import candidates
from podlock.system.basefs import BaseFiles
from podlock.system.distro import distribution
from podlock.system.solve import index_of, solve

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.toml"))
URI = "http://archive.test/debian"
KEYRING = "usr/share/keyrings/podlock-test.gpg"
DPKG = "Package: dpkg\nEssential: yes\nVersion: 1.21.22\n"
APT_INST = r"^Inst (\S+) (?:\[\S+\] )?\((\S+) "


@pytest.fixture(scope="session")
def signer() -> Iterator[Path]:
    """A GnuPG home with one signing key, for the session's test archives."""
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed (apt-get install gnupg)")
    home = Path(tempfile.mkdtemp(prefix="pl-gpg-"))  # short: gpg-agent's socket lives in it
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--passphrase", ""]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "podlock test archive", "ed25519", "sign",
                        "never"], check=True, capture_output=True)  # fmt: skip
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def stanzas(text: str, **defaults: str) -> list[Deb822]:
    out = []
    for para in Deb822.iter_paragraphs(text.splitlines(True)):
        for key, value in defaults.items():
            para.setdefault(key, value)
        out.append(para)
    return out


def packages_files(text: str) -> dict[str, bytes]:
    """``main/binary-ARCH/Packages`` (ARCH and ``all`` stanzas, as Debian's) and binary-all."""
    by_arch: dict[str, list[str]] = {"amd64": [], "all": []}
    for para in stanzas(text, Architecture="amd64", Priority="optional"):
        arch = para["Architecture"]
        para.setdefault("Filename", f"pool/main/{para['Package']}_{para['Version']}_{arch}.deb")
        para.setdefault("Size", str(1000 + len(para["Package"])))
        para.setdefault("SHA256", hashlib.sha256(para["Filename"].encode()).hexdigest())
        by_arch.setdefault(arch, [])
        for key in {arch, "amd64"} if arch == "all" else {arch}:
            by_arch[key].append(para.dump())
    return {f"main/binary-{a}/Packages": "\n".join(p).encode() for a, p in by_arch.items()}


def write_archive(root: Path, text: str, signer: Path) -> bytes:
    """The signed archive under ``root`` (dists/bookworm/...); returns the public keyring."""
    dists = root / "dists" / "bookworm"
    sums = []
    for name, data in packages_files(text).items():
        (dists / name).parent.mkdir(parents=True, exist_ok=True)
        for suffix, blob in (("", data), (".xz", lzma.compress(data))):  # as Debian's Release
            (dists / f"{name}{suffix}").write_bytes(blob)
            sums.append(f" {hashlib.sha256(blob).hexdigest()} {len(blob)} {name}{suffix}")
    release = ("Origin: Test\nSuite: stable\nCodename: bookworm\n"
               "Date: Sat, 07 Dec 2024 10:00:00 UTC\nArchitectures: amd64 all\n"
               "Components: main\nNo-Support-for-Architecture-all: Packages\nSHA256:\n"
               + "\n".join(sums) + "\n")  # fmt: skip
    (dists / "Release").write_text(release)
    gpg = ["gpg", "--homedir", str(signer), "--batch", "--yes", "--quiet"]
    subprocess.run([*gpg, "--clearsign", "--output", str(dists / "InRelease"),
                    str(dists / "Release")], check=True, capture_output=True)  # fmt: skip
    return subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout


def status_of(spec: dict[str, Any]) -> bytes:
    text = DPKG + "\n" + spec.get("installed", "")
    paras = stanzas(text, Status="install ok installed", Architecture="amd64",
                    Maintainer="test", Description="test")  # fmt: skip
    return "\n".join(p.dump() for p in paras).encode()


class Mirror:
    """The archive on disk, answering as ``http.Client.get`` does."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, url: str, **kwargs: Any) -> bytes:
        assert url.startswith(URI + "/"), url
        return (self.root / url.removeprefix(URI + "/")).read_bytes()


def podlock_choice(spec: dict[str, Any], repo: Path, keyring: bytes) -> list[Any]:
    base = BaseFiles(
        name="test/debian",
        platform="linux/amd64",
        files={
            "etc/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
            "etc/apt/sources.list": f"deb [signed-by=/{KEYRING}] {URI} bookworm main\n".encode(),
            KEYRING: keyring,
            "var/lib/dpkg/status": status_of(spec),
        },
        root_links={},
    )
    dist = distribution(base)
    entries, _ = candidates(dist, "amd64", Mirror(repo), NullReporter())  # type: ignore[arg-type]
    index = index_of(entries, "amd64")
    return solve(spec["packages"], index, dist.installed, base="test/debian",
                 preferred=spec.get("preferred", {}))  # fmt: skip


def apt_choice(spec: dict[str, Any], repo: Path, keyring: bytes, tmp: Path) -> dict[str, str] | str:
    """What apt-get would install (name -> version), or its error."""
    for folder in ("parts", "state/lists/partial", "cache/archives/partial", "log"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    (tmp / "keyring.gpg").write_bytes(keyring)
    (tmp / "status").write_bytes(status_of(spec))
    (tmp / "sources.list").write_text(
        f"deb [signed-by={tmp}/keyring.gpg] file:{repo} bookworm main\n"
    )
    settings = {"Dir::Etc::Parts": "parts", "Dir::Etc::SourceList": "sources.list",
                "Dir::Etc::SourceParts": "parts", "Dir::Etc::Preferences": "none",
                "Dir::Etc::PreferencesParts": "parts", "Dir::Etc::TrustedParts": "parts",
                "Dir::State": "state", "Dir::State::status": "status", "Dir::Cache": "cache",
                "Dir::Log": "log"}  # fmt: skip
    conf = "".join(f'{k} "{tmp}/{v}";\n' for k, v in settings.items())
    conf += ('APT::Architecture "amd64";\nAPT::Architectures { "amd64"; };\n'
             'APT::Sandbox::User "root";\nDebug::NoLocking "true";\nAcquire::Languages "none";\n')  # fmt: skip
    (tmp / "apt.conf").write_text(conf)
    env = {**os.environ, "APT_CONFIG": str(tmp / "apt.conf"), "LC_ALL": "C"}
    update = subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
    assert update.returncode == 0 and "W:" not in update.stdout + update.stderr, update.stderr
    args = ["apt-get", "install", "-s", "--no-install-recommends", *spec["packages"]]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return done.stdout + done.stderr
    return {m[1]: m[2] for m in re.finditer(APT_INST, done.stdout, re.MULTILINE)}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_locks_what_apt_get_installs(path: Path, tmp_path: Path, signer: Path) -> None:
    spec = tomllib.loads(path.read_text())
    repo = tmp_path / "repo"
    keyring = write_archive(repo, spec["archive"], signer)
    apt = None
    if shutil.which("apt-get") and "preferred" not in spec:
        apt = apt_choice(spec, repo, keyring, tmp_path / "apt")
    try:
        chosen = podlock_choice(spec, repo, keyring)
    except PodlockError as exc:
        assert "error" in spec, f"podlock refused a scenario that succeeds: {exc}"
        assert spec["error"] in str(exc) and exc.hint, (str(exc), exc.hint)
        assert apt is None or isinstance(apt, str), f"apt-get installs {apt}"
        return
    assert "error" not in spec, f"expected a failure: {spec['error']}"
    assert sorted(c.url.rsplit("/", 1)[-1] for c in chosen) == sorted(spec["debs"])
    for c in chosen:
        assert c.url == f"{URI}/pool/main/{c.url.rsplit('/', 1)[-1]}"
        assert c.sha256 == hashlib.sha256(c.url.removeprefix(URI + "/").encode()).hexdigest()
    if apt is not None:
        assert {c.name: c.version for c in chosen} == apt, "apt-get chooses otherwise"
