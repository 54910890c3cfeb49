"""Target platforms written like Docker's (``linux/amd64``), their markers and wheel tags.

A platform here is a *target*; only ``host_platform`` looks at this machine.
"""

from __future__ import annotations

import platform as _platform
import sys
from dataclasses import dataclass
from functools import cache

from packaging import tags
from packaging.markers import Environment
from packaging.tags import Tag

from podlock.errors import ConfigError, PodlockError

# The newest glibc / macOS that a target is assumed to have. bookworm ships glibc 2.36;
# images built by podlock are Debian-based, so wheels up to manylinux_2_36 run there.
GLIBC_MAX = (2, 36)
MACOS_MAX = (14, 0)

_OS = {
    "linux": ("linux", "Linux", "posix"),
    "darwin": ("darwin", "Darwin", "posix"),
    "windows": ("win32", "Windows", "nt"),
}
_MACHINE = {
    ("linux", "amd64"): "x86_64",
    ("linux", "arm64"): "aarch64",
    ("darwin", "amd64"): "x86_64",
    ("darwin", "arm64"): "arm64",
    ("windows", "amd64"): "AMD64",
}
KNOWN = tuple(f"{os_}/{arch}" for os_, arch in _MACHINE)
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


def normalize_arch(name: str) -> str:
    """Docker's name for an architecture (``x86_64`` → ``amd64``, ``aarch64`` → ``arm64``)."""
    name = name.lower()
    return _ARCH_ALIASES.get(name, name)


@dataclass(frozen=True, order=True)
class Platform:
    """One target OS/architecture, e.g. ``Platform("linux", "amd64")``."""

    os: str
    arch: str

    @classmethod
    def parse(cls, text: str, *, where: str | None = None) -> Platform:
        os_, _, arch = text.strip().lower().partition("/")
        arch = normalize_arch(arch)
        if (os_, arch) not in _MACHINE:
            raise ConfigError(
                f"unknown platform {text!r}",
                file=where,
                hint=f"use one of {', '.join(KNOWN)}",
            )
        return cls(os_, arch)

    def __str__(self) -> str:
        return f"{self.os}/{self.arch}"

    @property
    def machine(self) -> str:
        return _MACHINE[(self.os, self.arch)]

    @property
    def marker(self) -> str:
        """A PEP 508 marker true exactly on this platform."""
        sys_platform = _OS[self.os][0]
        return f"sys_platform == '{sys_platform}' and platform_machine == '{self.machine}'"

    def environment(self, python: str) -> Environment:
        """Marker variables for CPython ``python`` (``"3.12"``) on this platform."""
        sys_platform, system, os_name = _OS[self.os]
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{python}.0",
            "os_name": os_name,
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": f"{python}.0",
            "python_version": python,
            "sys_platform": sys_platform,
        }

    def platform_tags(self) -> list[str]:
        """Platform tags, most specific first (the order installers prefer)."""
        if self.os == "linux":
            out = []
            for minor in range(GLIBC_MAX[1], 4, -1):
                out.append(f"manylinux_2_{minor}_{self.machine}")
                legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
                if legacy:
                    out.append(f"{legacy}_{self.machine}")
            return out
        if self.os == "darwin":
            return list(tags.mac_platforms(MACOS_MAX, self.machine))
        return ["win_amd64"]

    def tags(self, python: str) -> list[tags.Tag]:
        """Wheel tags a CPython ``python`` interpreter accepts here, most preferred first."""
        return list(_tags_for(self, python))

    def accepts(self, python: str) -> frozenset[Tag]:
        """The same tags as a set, for membership tests (built once per platform/python)."""
        return _accepted(self, python)


@cache
def _tags_for(platform: Platform, python: str) -> tuple[tags.Tag, ...]:
    version = tuple(int(p) for p in python.split("."))
    plats = platform.platform_tags()
    return (
        *tags.cpython_tags(version, platforms=plats),
        *tags.compatible_tags(version, f"cp{version[0]}{version[1]}", plats),
    )


@cache
def _accepted(platform: Platform, python: str) -> frozenset[Tag]:
    return frozenset(_tags_for(platform, python))


def parse_python(text: str, *, where: str | None = None) -> str:
    """A target Python written ``X.Y``."""
    parts = text.strip().split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[0] != "3":
        raise ConfigError(f'python must be written X.Y (e.g. "3.12"), got {text!r}', file=where)
    return f"{int(parts[0])}.{int(parts[1])}"


def host_platform() -> Platform:
    """This machine as a target platform (``linux/amd64``, ``darwin/arm64`` ...)."""
    os_name = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform)
    if os_name is None:
        raise PodlockError(f"podlock does not know this OS ({sys.platform})")
    return Platform.parse(f"{os_name}/{_platform.machine()}")
