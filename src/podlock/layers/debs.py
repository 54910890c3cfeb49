"""The ``system`` layer: the locked .debs unpacked the way dpkg would, with no apt, no dpkg
and no maintainer scripts (as distroless images are made).

The layer holds each package's data archive (modes kept, owners root, hard links as
files, paths through the base's root symlinks so ``/lib`` stays ``usr/lib`` on a merged-/usr
base), ``/var/lib/dpkg/info/<pkg>.list`` and its other control files (md5sums, conffiles,
shlibs, triggers, scripts: stored, never run), and ``/var/lib/dpkg/status``: the base's
entries byte for byte plus one per new package, in name order. Maintainer-script effects
done here: none are needed for libraries in the loader's default multiarch directories
(ldconfig is not run: ``/etc/ld.so.cache`` stays the base's, and glibc falls back to those
directories); ``update-alternatives --install`` lines of a postinst become the links it
would make (highest priority wins).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard
from debian.arfile import ArError, ArFile

from podlock.atomic import directory_in_place
from podlock.errors import HashMismatch, PodlockError
from podlock.layers.tarlayer import Entry, file, symlink
from podlock.lock.system import Deb
from podlock.system.basefs import BaseFiles

INFO = "var/lib/dpkg/info"
STATUS = "var/lib/dpkg/status"
_ALTERNATIVE = re.compile(
    r"update-alternatives\s+(?:--quiet\s+)?--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)"
)


class SystemLayerError(PodlockError):
    """A .deb that cannot go into the system layer as locked."""


def verify(deb: Deb, path: Path) -> None:
    """The cached file is the one the lock names (checked again before it is unpacked)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    size = path.stat().st_size
    if sha.hexdigest() != deb.sha256 or size != deb.size:
        path.unlink(missing_ok=True)  # never reused
        raise HashMismatch(
            package=f"{deb.name} {deb.version} ({deb.architecture})",
            url=deb.url,
            expected=[f"sha256:{deb.sha256} ({deb.size} bytes)"],
            got=[f"sha256:{sha.hexdigest()} ({size} bytes)"],
        )


def system_entries(
    debs: Sequence[Deb],
    paths: Mapping[str, Path],
    base: BaseFiles,
    arch: str,
    unpacked: Path | None = None,
) -> list[Entry]:
    """The layer's entries (not yet normalised). Cost: one read of every .deb, and one
    decompression of each unless ``unpacked`` (a cache: ``<sha[:2]>/<sha>/{control,data}.tar``,
    the .deb's archives decompressed) has it."""
    owner: dict[str, tuple[str, Entry]] = {}
    stanzas: dict[str, bytes] = {}
    info: list[Entry] = []
    alternatives: dict[str, tuple[int, str, str]] = {}  # name -> (priority, link, path)
    ordered = sorted(debs, key=lambda d: d.name)
    # Verifying and decompressing (C code that releases the GIL) run a few debs at a time;
    # placing the files runs in name order, so the result does not depend on timing.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        opened = pool.map(lambda d: _open(d, paths[d.sha256], unpacked), ordered)
        for deb, (control_tar, data_tar) in zip(ordered, opened, strict=True):
            info += _one(deb, control_tar, data_tar, base, arch, owner, stanzas, alternatives)
    entries = [e for _, e in owner.values()] + info
    for alt, (prio, link, target) in sorted(alternatives.items()):
        entries.append(symlink(link.lstrip("/"), f"/etc/alternatives/{alt}"))
        entries.append(symlink(f"etc/alternatives/{alt}", target))
        entries.append(
            file(
                f"var/lib/dpkg/alternatives/{alt}", f"auto\n{link}\n\n{target}\n{prio}\n\n".encode()
            )
        )
    entries.append(file(STATUS, _status(base.status, stanzas)))
    return entries


def _open(deb: Deb, path: Path, unpacked: Path | None) -> tuple[tarfile.TarFile, tarfile.TarFile]:
    """The .deb verified, its control and data archives decompressed once, into memory
    (tarfile over an xz stream would decompress again for every backward seek), or read
    from the ``unpacked`` cache, which only ever holds what a verified .deb decompressed to."""
    verify(deb, path)
    cached = unpacked / deb.sha256[:2] / deb.sha256 if unpacked is not None else None
    raws: dict[str, bytes] = {}
    try:
        if cached is not None and (cached / "data.tar").is_file():
            os.utime(cached)  # last use, for `podlock prune`
            raws = {stem: (cached / f"{stem}.tar").read_bytes() for stem in ("control", "data")}
        else:
            for member in ArFile(str(path)).getmembers():
                stem, dot, ext = member.name.partition(".tar")
                if stem in ("control", "data") and dot:
                    raws[stem] = _decompress(member.read(), ext.lstrip("."))
            if cached is not None:
                _keep(cached, raws)
        # in memory: nothing to close
        tars = {k: tarfile.open(fileobj=io.BytesIO(v), mode="r:") for k, v in raws.items()}  # noqa: SIM115
        return tars["control"], tars["data"]
    except (ArError, OSError, EOFError, lzma.LZMAError, zlib.error, tarfile.TarError,
            KeyError, ValueError, zstandard.ZstdError) as exc:  # fmt: skip
        raise SystemLayerError(f"{deb.filename}: not a readable .deb ({exc!r})") from None


def _keep(dest: Path, raws: Mapping[str, bytes]) -> None:
    """Store the decompressed archives at ``dest`` atomically (a whole directory or none)."""
    if set(raws) != {"control", "data"}:
        return
    # A failed rename means another build stored it first: a cache, theirs is as good.
    with directory_in_place(dest, finished=lambda _: True) as part:
        for stem, raw in raws.items():
            (part / f"{stem}.tar").write_bytes(raw)


def _decompress(data: bytes, ext: str) -> bytes:
    if ext == "xz":
        return lzma.decompress(data)
    if ext == "gz":
        return zlib.decompress(data, wbits=31)
    if ext == "zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if ext == "bz2":
        return bz2.decompress(data)
    if ext == "":
        return data
    raise ValueError(f"unknown compression .{ext}")


def _one(
    deb: Deb,
    control_tar: tarfile.TarFile,
    data_tar: tarfile.TarFile,
    base: BaseFiles,
    arch: str,
    owner: dict[str, tuple[str, Entry]],
    stanzas: dict[str, bytes],
    alternatives: dict[str, tuple[int, str, str]],
) -> list[Entry]:
    """Place one package: its files into ``owner``, its status stanza and alternatives;
    returns its ``/var/lib/dpkg/info`` entries."""
    info: list[Entry] = []
    listed, conffiles_md5 = _data(deb, data_tar, base, owner)
    stem = deb.name
    members = {}
    for member in control_tar.getmembers():
        name = member.name.removeprefix("./")
        fh = control_tar.extractfile(member) if member.isfile() else None
        if fh is None or "/" in name:
            continue
        members[name] = (fh.read(), bool(member.mode & 0o111))
    control_text = members.pop("control", (b"", False))[0]
    multi_same = b"\nMulti-Arch: same" in b"\n" + control_text
    if multi_same:
        stem = f"{deb.name}:{deb.architecture}"
    for name, (data, executable) in sorted(members.items()):
        info.append(file(f"{INFO}/{stem}.{name}", data, executable=executable))
        if name == "postinst":
            for link, alt, target, prio in _alternatives(data, arch):
                best = alternatives.get(alt)
                if best is None or prio > best[0]:
                    alternatives[alt] = (prio, link, target)
    info.append(file(f"{INFO}/{stem}.list", ("\n".join(listed) + "\n").encode()))
    stanzas[f"{deb.name}:{deb.architecture}"] = _stanza(control_text, conffiles_md5, members)
    return info


def _alternatives(postinst: bytes, arch: str) -> list[tuple[str, str, str, int]]:
    """The ``update-alternatives --install LINK NAME PATH PRIORITY`` of a postinst
    (continuation lines joined; lines with shell variables other than the multiarch one
    skipped): (link, name, path, priority)."""
    text = re.sub(r"\\\n", " ", postinst.decode("utf-8", "replace"))
    out = []
    for found in _ALTERNATIVE.findall(text):
        link, alt, target = (
            f.replace("${DEB_HOST_MULTIARCH}", _multiarch(arch)) for f in found[:3]
        )
        prio = found[3]
        if "$" not in link + alt + target:
            out.append((link, alt, target, int(prio)))
    return out


def _multiarch(arch: str) -> str:
    return {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}.get(arch, arch)


def _data(
    deb: Deb, tar: tarfile.TarFile, base: BaseFiles, owner: dict[str, tuple[str, Entry]]
) -> tuple[list[str], dict[str, str]]:
    """Place the data archive's members; returns the ``.list`` lines and conffile md5s."""
    listed = ["/."]
    content: dict[str, bytes] = {}
    md5: dict[str, str] = {}
    for member in tar.getmembers():
        raw = posixpath.normpath(member.name.removeprefix("./").strip("/"))
        if raw in ("", "."):
            continue
        if raw == ".." or raw.startswith("../"):
            raise SystemLayerError(f"{deb.filename}: member {member.name} leaves the root")
        listed.append("/" + raw)
        path = _through_links(raw, base.root_links)
        mode = member.mode & 0o7777
        if member.isdir():
            entry = Entry(path=path, kind="dir", mode=mode or 0o755)
        elif member.issym():
            entry = symlink(path, member.linkname)
        elif member.isfile():
            fh = tar.extractfile(member)
            data = fh.read() if fh else b""
            content[raw] = data
            md5["/" + raw] = hashlib.md5(data, usedforsecurity=False).hexdigest()
            entry = Entry(path=path, kind="file", mode=mode, source=data)
        elif member.islnk():
            target = posixpath.normpath(member.linkname.removeprefix("./").strip("/"))
            entry = Entry(path=path, kind="file", mode=mode, source=content.get(target, b""))
        else:
            continue  # devices and fifos: none in Debian's library packages
        _own(owner, path, deb.name, entry)
    return listed, md5


def _own(owner: dict[str, tuple[str, Entry]], path: str, pkg: str, entry: Entry) -> None:
    if path in owner:
        other, existing = owner[path]
        if existing.kind == "dir" and entry.kind == "dir":
            return
        if existing != entry:
            raise SystemLayerError(
                f"/{path} is shipped differently by {other} and {pkg}",
                hint="these packages conflict; drop one of them from system-packages",
            )
        return
    owner[path] = (pkg, entry)


def _through_links(path: str, links: Mapping[str, str]) -> str:
    head, sep, rest = path.partition("/")
    if not sep and head in links and not links[head].startswith(".."):
        return links[head]  # the directory itself: the base's link already stands for it
    if sep and head in links and not links[head].startswith(".."):
        return f"{links[head]}/{rest}"
    return path


def _stanza(
    control: bytes, md5: Mapping[str, str], members: Mapping[str, tuple[bytes, bool]]
) -> bytes:
    lines = control.decode("utf-8", "replace").rstrip("\n").split("\n")
    out = [lines[0], "Status: install ok installed", *lines[1:]]
    conffiles = members.get("conffiles", (b"", False))[0].decode().split()
    if conffiles:
        out.append("Conffiles:")
        out += [f" {c} {md5.get(c, 'newconffile')}" for c in conffiles]
    return ("\n".join(out) + "\n").encode()


def _status(base: bytes, new: Mapping[str, bytes]) -> bytes:
    """The base's stanzas (those not replaced) byte for byte, plus ``new``; by name."""
    stanzas: dict[str, bytes] = {}
    for chunk in base.split(b"\n\n"):
        chunk = chunk.strip(b"\n")
        if not chunk:
            continue
        fields = dict(
            line.split(b": ", 1)
            for line in chunk.split(b"\n")
            if b": " in line and line[:1] != b" "
        )
        key = f"{fields.get(b'Package', b'').decode()}:{fields.get(b'Architecture', b'').decode()}"
        stanzas[key] = chunk + b"\n"
    for key, stanza in new.items():
        name = key.split(":", 1)[0]
        for old in [k for k in stanzas if k.split(":", 1)[0] == name]:
            del stanzas[old]  # an upgraded package replaces the base's
        stanzas[key] = stanza
    return b"\n".join(stanzas[k] for k in sorted(stanzas))
