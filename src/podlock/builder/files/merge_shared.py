"""podlock's merge of the files several wheels ship, run in the image after a layer's
install (written into the build context by podlock; do not edit).

pip installs a requirements file's packages in descending name order, so of several wheels
that ship one path with different bytes, the one whose name sorts first is installed last
and its copy is what stays. uv installs in parallel, so whichever finishes last would win;
this puts the winner's copy back from its own wheel, so that the image holds what pip and
podlock's own builders leave (podlock/layers/installed.py ``merge``). Paths shipped with
the same bytes need nothing.

    python merge_shared.py SITE_PACKAGES WHEELS_DIR
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import py_compile
import re
import sys
import zipfile


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def record_hash(path: str) -> str | None:
    """``sha256=<urlsafe b64>`` of the file, as RECORD writes it; None if it is missing."""
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).digest()
    except OSError:
        return None
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims(site: str) -> dict[str, list[tuple[str, str, str]]]:
    """path -> [(distribution, recorded hash, path as recorded)] from every RECORD."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for entry in sorted(os.listdir(site)):
        record = os.path.join(site, entry, "RECORD")
        if not (entry.endswith(".dist-info") and os.path.isfile(record)):
            continue
        name = canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
        with open(record, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if len(row) >= 2 and row[1]:
                    path = os.path.normpath(os.path.join(site, row[0]))
                    out.setdefault(path, []).append((name, row[1], row[0]))
    return out


def wheel_of(name: str, wheels: str) -> str | None:
    for filename in sorted(os.listdir(wheels)):
        if filename.endswith(".whl") and canonical(filename.split("-", 1)[0]) == name:
            return os.path.join(wheels, filename)
    return None


def restore(path: str, name: str, member: str, wheels: str) -> bool:
    """Write ``member`` of ``name``'s wheel over ``path``; False when it cannot be found."""
    wheel = wheel_of(name, wheels)
    if wheel is None:
        return False
    with zipfile.ZipFile(wheel) as z:
        if member not in z.namelist():
            return False
        data = z.read(member)
    tmp = path + ".podlock-tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644)
    os.replace(tmp, path)
    if path.endswith(".py"):
        py_compile.compile(path, doraise=False, quiet=1)
    return True


def main(site: str, wheels: str) -> int:
    for path, owners in sorted(claims(site).items()):
        if len({h for _, h, _ in owners}) < 2:
            continue
        name, digest, member = min(owners)
        losers = sorted({n for n, h, _ in owners if h != digest})
        sys.stderr.write(
            f"podlock: {path} is shipped by {name} and {', '.join(losers)} with different "
            f"contents; {name}'s copy is kept, as pip installs it last\n"
        )
        if record_hash(path) != digest and not restore(path, name, member, wheels):
            sys.stderr.write(f"podlock: cannot restore {path} from {name}'s wheel\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
