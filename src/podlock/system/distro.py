"""A base image's distribution, as apt in it would see it: what it is (``os-release``), where
its packages come from (``/etc/apt/sources.list*``), which keys sign them, what is installed.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from debian.deb822 import Deb822

from podlock.errors import PodlockError
from podlock.system.basefs import BaseFiles

SUPPORTED = ("debian", "ubuntu")


class DistributionError(PodlockError):
    """A base whose distribution podlock cannot read or lock packages for."""


@dataclass(frozen=True, kw_only=True)
class Source:
    """One ``deb URI SUITE COMPONENT…`` of the base, with the keyrings that sign it."""

    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: tuple[str, ...] = ()  # keyring paths in the base; () = apt's trusted set

    def __str__(self) -> str:
        return f"{self.uri} {self.suite} {' '.join(self.components)}"


@dataclass(frozen=True, kw_only=True)
class Installed:
    name: str
    version: str
    architecture: str
    provides: str = ""
    multi_arch: str = ""  # "same", "foreign", "allowed" or ""


@dataclass(frozen=True, kw_only=True)
class Distribution:
    id: str
    version: str
    codename: str
    sources: tuple[Source, ...]
    installed: Mapping[str, Installed]
    keyrings: Mapping[str, bytes]  # path in the base -> keyring bytes (binary OpenPGP)

    def __str__(self) -> str:
        return f"{self.id} {self.version} ({self.codename})".replace("  ", " ")

    def trusted(self, source: Source) -> list[bytes]:
        """The keyrings apt in the base would verify ``source`` with."""
        if source.signed_by:
            return [self.keyrings[p] for p in source.signed_by if p in self.keyrings]
        return [
            data
            for path, data in sorted(self.keyrings.items())
            if path == "etc/apt/trusted.gpg" or (path.startswith("etc/apt/trusted.gpg.d/") and data)
        ]


def distribution(base: BaseFiles) -> Distribution:
    """Read the base's distribution; a base podlock cannot lock for is a clear error."""
    text = base.text("etc/os-release") or base.text("usr/lib/os-release")
    where = f"base image {base.name} ({base.platform})"
    if text is None:
        raise DistributionError(
            f"{where} has no /etc/os-release: podlock cannot tell its distribution",
            hint="system packages need a Debian or Ubuntu base",
        )
    release = _os_release(text)
    ident = release.get("ID", "")
    if ident not in SUPPORTED and not set(release.get("ID_LIKE", "").split()) & set(SUPPORTED):
        raise DistributionError(
            f"{where} is {release.get('PRETTY_NAME', ident or 'an unknown distribution')}; "
            "podlock locks system packages for Debian and Ubuntu bases only",
            hint="use a Debian or Ubuntu base image, or install the packages in your own base",
        )
    if not base.status:
        raise DistributionError(
            f"{where} has no /var/lib/dpkg/status", hint="use a Debian or Ubuntu base image"
        )
    sources = _sources(base)
    if not sources:
        raise DistributionError(
            f"{where} has no apt sources (/etc/apt/sources.list, sources.list.d)",
            hint="use a base whose apt sources name its distribution's mirror",
        )
    keyrings = {
        path: data if path.endswith(".gpg") else _dearmor(data)
        for path, data in base.files.items()
        if path.endswith((".gpg", ".asc")) and path.startswith(("etc/apt/", "usr/share/keyrings/"))
    }
    return Distribution(
        id=ident,
        version=release.get("VERSION_ID", ""),
        codename=release.get("VERSION_CODENAME", ""),
        sources=sources,
        installed=installed(base.status),
        keyrings=keyrings,
    )


def installed(status: bytes) -> dict[str, Installed]:
    """The packages dpkg's status says are installed, by name."""
    out: dict[str, Installed] = {}
    for para in Deb822.iter_paragraphs(status.decode("utf-8", "replace").splitlines(True)):
        if para.get("Status", "").split()[-1:] != ["installed"]:
            continue
        out[para["Package"]] = Installed(
            name=para["Package"],
            version=para.get("Version", ""),
            architecture=para.get("Architecture", ""),
            provides=para.get("Provides", ""),
            multi_arch=para.get("Multi-Arch", ""),
        )
    return out


def _dearmor(data: bytes) -> bytes:
    """An ASCII-armored key (``.asc``, as apt accepts in trusted.gpg.d) as binary OpenPGP."""
    out = b""
    for block in data.split(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")[1:]:
        body = block.split(b"-----END", 1)[0]
        _, _, armored = body.replace(b"\r", b"").partition(b"\n\n")
        lines = [ln for ln in armored.split(b"\n") if ln and not ln.startswith(b"=")]
        out += base64.b64decode(b"".join(lines))
    return out


def _os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            parts = shlex.split(value) if value else [""]
            out[key.strip()] = parts[0] if parts else ""
    return out


def _sources(base: BaseFiles) -> tuple[Source, ...]:
    out: list[Source] = []
    names = sorted(p for p in base.files if p.startswith("etc/apt/sources.list.d/"))
    for path in ["etc/apt/sources.list", *names]:
        text = base.text(path)
        if text is None:
            continue
        if path.endswith(".sources"):
            out += _deb822_sources(text)
        elif path.endswith(".list"):
            out += _one_line_sources(text)
    return tuple(dict.fromkeys(out))


def _one_line_sources(text: str) -> list[Source]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        signed: tuple[str, ...] = ()
        if words and words[0].startswith("["):
            options = []
            while words:
                word = words.pop(0)
                options.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for option in options:
                key, _, value = option.partition("=")
                if key == "signed-by":
                    signed = tuple(v.lstrip("/") for v in value.split(","))
        if len(words) >= 2:
            out.append(
                Source(
                    uri=words[0].rstrip("/"),
                    suite=words[1],
                    components=tuple(words[2:]),
                    signed_by=signed,
                )
            )
    return out


def _deb822_sources(text: str) -> list[Source]:
    out = []
    for para in Deb822.iter_paragraphs(text.splitlines(True)):
        if "deb" not in para.get("Types", "").split() or para.get("Enabled", "yes") == "no":
            continue
        signed = tuple(p.lstrip("/") for p in para.get("Signed-By", "").split() if "/" in p)
        for uri in para.get("URIs", "").split():
            for suite in para.get("Suites", "").split():
                out.append(
                    Source(
                        uri=uri.rstrip("/"),
                        suite=suite,
                        components=tuple(para.get("Components", "").split()),
                        signed_by=signed,
                    )
                )
    return out
