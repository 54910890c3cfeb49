"""Root provisioning for the engine tests (run by scripts/test): Debian packages, a running
Docker engine, the base image's root filesystem. Idempotent: 0.2 s when all is there, ~1 min
on a fresh machine. Without root or apt it changes nothing and says what the tests will miss.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services import BASE_IMAGE, BASE_PACKAGES, SUITE, cache_dir, rootfs_tar

PACKAGES = ("docker.io", "docker-registry", "debootstrap", "skopeo", "umoci")
DOCKERD = ("dockerd", "--iptables=false", "--bridge=none")


def say(message: str) -> None:
    print(f"provision: {message}", file=sys.stderr, flush=True)


def run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """``argv``'s result; a missing program is exit status 127, as in a shell."""
    try:
        return subprocess.run(list(argv), check=False, capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), 127, b"", b"")


def missing_packages() -> list[str]:
    status = run("dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *PACKAGES)
    have = set(re.findall(r"^(\S+) installed$", status.stdout.decode(), re.MULTILINE))
    return [p for p in PACKAGES if p not in have]


def install(packages: list[str]) -> None:
    """apt-get install, with a policy-rc.d that keeps the packages' services from starting
    (we start our own dockerd, and registries per test session)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"apt-get install {' '.join(packages)}")
    if (update := run("apt-get", "update", "-q", env=env)).returncode != 0:
        say(f"apt-get update failed, trying the lists there are:\n{update.stderr.decode()[-800:]}")
    policy = Path("/usr/sbin/policy-rc.d")
    if ours := not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        done = run("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages, env=env)
    finally:
        if ours:
            policy.unlink()
    if done.returncode != 0:
        raise SystemExit(f"provision: apt-get install failed:\n{done.stderr.decode()[-2000:]}")


def engine_answers() -> bool:
    return shutil.which("docker") is not None and run("docker", "info").returncode == 0


def start_dockerd() -> None:
    """dockerd with overlay2 (vfs, 50-100x slower, if the kernel refuses overlay2), in its
    own session so that nothing that kills the test run's process group stops it."""
    log_path = cache_dir() / "dockerd.log"
    for driver in ("overlay2", "vfs"):
        say(f"starting dockerd ({driver}), log {log_path}")
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [*DOCKERD, f"--storage-driver={driver}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if engine_answers():
                return
            time.sleep(0.5)
        if proc.poll() is None:
            proc.terminate()
            raise SystemExit(f"provision: dockerd did not answer in 60 s; see {log_path}")
        say(f"dockerd exited with the {driver} driver")
    raise SystemExit(f"provision: dockerd does not start; see {log_path}")


def mirror(apt: Path = Path("/etc/apt")) -> str:
    """The first non-security Debian URI of the host's apt sources (deb822 or one-line)."""
    for source in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in source.read_text().split("\n\n"):
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines())
                if v and not k.startswith("#")
            )
            uris = fields.get("uris", "").split()
            if "deb" in fields.get("types", "").split() and uris and "security" not in uris[0]:
                return uris[0]
    for source in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        for line in source.read_text().splitlines() if source.is_file() else []:
            words = re.sub(r"\[[^\]]*\]", " ", line).split()  # drop [options]
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in words[1]:
                return words[1]
    raise SystemExit("provision: no Debian mirror in /etc/apt; cannot make the base image")


def unmount_under(root: Path) -> None:
    """Unmount what debootstrap may leave mounted (/proc, /sys), so that removing the work
    directory can never reach into the host's."""
    mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        run("umount", "-l", point)


def make_rootfs(out: Path) -> None:
    """debootstrap a minbase root filesystem, drop host-specific files, tar it (~45 s)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix="rootfs.") as work:
        root = Path(work) / "root"
        say(f"debootstrap {SUITE} with {', '.join(BASE_PACKAGES)} (~1 min)")
        done = run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                   SUITE, str(root), mirror())  # fmt: skip
        unmount_under(root)
        if done.returncode != 0:
            raise SystemExit(f"provision: debootstrap failed:\n{done.stdout.decode()[-2000:]}")
        for pattern in ("var/cache/apt/*", "var/lib/apt/lists/*", "tmp/*", "var/tmp/*",
                        "dev/*", "run/*", "var/log/**/*.log", "etc/machine-id"):  # fmt: skip
            for path in root.glob(pattern):
                (shutil.rmtree if path.is_dir() and not path.is_symlink() else os.unlink)(path)
        (root / "etc/resolv.conf").write_text("")  # the host's, not the image's
        (root / "etc/hostname").write_text("")
        partial = Path(work) / "rootfs.tar"
        if (tar := run("tar", "-C", str(root), "--sort=name", "--numeric-owner", "-cf",
                       str(partial), ".")).returncode != 0:  # fmt: skip
            raise SystemExit(f"provision: tar failed: {tar.stderr.decode()[-800:]}")
        partial.chmod(0o644)
        partial.replace(out)


def main() -> int:
    started = time.monotonic()
    root = os.geteuid() == 0
    missing = missing_packages()
    if missing and not (root and shutil.which("apt-get")):
        why = "no apt-get" if root else "not root"
        say(f"{why}: cannot install {', '.join(missing)}; the tests that need them will skip")
    elif missing:
        install(missing)
        say(f"packages installed at {time.monotonic() - started:.1f} s")
    if not engine_answers():
        if not (root and shutil.which("dockerd")):
            say("no Docker engine answers, and starting one needs root and dockerd: skipping it")
            return 0
        cache_dir().mkdir(parents=True, exist_ok=True)
        start_dockerd()
        say(f"engine up at {time.monotonic() - started:.1f} s")
    has_image = run("docker", "image", "inspect", BASE_IMAGE).returncode == 0
    if not has_image and not rootfs_tar().is_file():
        if root and shutil.which("debootstrap"):
            make_rootfs(rootfs_tar())
        else:
            say(f"no {BASE_IMAGE} and no root to make one; the engine tests will skip")
    say(f"ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
