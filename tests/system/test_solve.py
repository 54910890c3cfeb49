"""apt's choices on in-memory archives: the walk's order, installed solutions first,
providers in CompareProviders' order, command-line virtual packages, locked versions."""

from __future__ import annotations

from typing import Any

import pytest

from podlock.system.distro import Installed
from podlock.system.solve import NoCandidate, index_of, solve


def stanza(name: str, version: str = "1", **fields: str) -> dict[str, Any]:
    keys = {"pre_depends": "Pre-Depends", "multi_arch": "Multi-Arch"}
    extra = {keys.get(k, k.capitalize()): v for k, v in fields.items()}
    return {"Package": name, "Version": version, "Architecture": "amd64", "Size": "1",
            "SHA256": "0" * 64, "url": f"http://archive/{name}_{version}.deb",
            "Priority": "optional", **extra}  # fmt: skip


def chosen(wanted: list[str], entries: list[dict[str, Any]], **kwargs: Any) -> dict[str, str]:
    installed = kwargs.pop("installed", {})
    done = solve(wanted, index_of(entries, "amd64"), installed, base="test-base", **kwargs)
    return {c.name: c.version for c in done}


BLAS = [
    stanza("ffmpeg", depends="libavcodec"),
    stanza("libavcodec", depends="liblapack3 | liblapack.so.3"),
    stanza("liblapack3", depends="libblas3 | libblas.so.3"),
    stanza("libblas3", provides="libblas.so.3"),
    stanza("libopenblas0", depends="libopenblas0-pthread"),
    stanza("libopenblas0-pthread", provides="libblas.so.3, liblapack.so.3"),
]


def test_the_walk_is_depth_first_from_each_asked_for_package_in_turn() -> None:
    # ffmpeg's walk meets `liblapack3 | liblapack.so.3` before libopenblas0-pthread is marked
    both = chosen(["ffmpeg", "libopenblas0"], BLAS)
    assert {"liblapack3", "libblas3", "libopenblas0-pthread"} <= set(both)
    # asked first, libopenblas0's provider is marked before ffmpeg's walk needs one
    assert "liblapack3" not in chosen(["libopenblas0", "ffmpeg"], BLAS)


def test_a_dependency_the_base_satisfies_is_left_alone() -> None:
    base = {"libopenblas0-pthread": Installed(name="libopenblas0-pthread", version="1",
                                              architecture="amd64", provides="libblas.so.3, "
                                              "liblapack.so.3")}  # fmt: skip
    assert chosen(["ffmpeg"], BLAS, installed=base) == {"ffmpeg": "1", "libavcodec": "1"}


def test_an_installed_alternative_is_upgraded_before_a_new_one_is_installed() -> None:
    entries = [
        stanza("app", depends="newlib | oldlib (>= 2)"),
        stanza("newlib"),
        stanza("oldlib", "2"),
    ]
    base = {"oldlib": Installed(name="oldlib", version="1", architecture="amd64")}
    assert chosen(["app"], entries, installed=base) == {"app": "1", "oldlib": "2"}
    assert chosen(["app"], entries) == {"app": "1", "newlib": "1"}


def test_providers_in_compare_providers_order() -> None:
    data = [stanza("game", depends="game-data", suggests="data-it, data-us, data-sv")]
    data += [stanza(f"data-{x}", provides="game-data") for x in ("it", "sv", "us")]
    # all optional: the one apt's cache met last (game's Suggests name data-sv last)
    assert "data-sv" in chosen(["game"], data)
    data.append(stanza("data-xx", provides="game-data", priority="standard"))
    assert "data-xx" in chosen(["game"], data)  # a higher priority comes first
    data.append(stanza("game-data", "2"))
    assert "game-data" in chosen(["game"], data)  # the package of that name before providers


def test_an_asked_for_virtual_package_needs_exactly_one_provider() -> None:
    entries = [stanza("exim", provides="mta"), stanza("postfix", provides="mta")]
    with pytest.raises(NoCandidate, match="mta is a virtual package provided by exim, postfix"):
        chosen(["mta"], entries)
    assert chosen(["mta"], entries[:1]) == {"exim": "1"}
    awk = {"mawk": Installed(name="mawk", version="1", architecture="amd64", provides="awk")}
    with pytest.raises(NoCandidate):  # installed or not, as apt-get
        chosen(["awk"], [stanza("mawk", provides="awk"), stanza("gawk", provides="awk")],
               installed=awk)  # fmt: skip


def test_pins_and_locked_versions_are_the_candidates() -> None:
    entries = [stanza("app", "2", depends="lib (>= 2)"), stanza("app", "1", depends="lib"),
               stanza("lib", "3"), stanza("lib", "2"), stanza("lib", "1")]  # fmt: skip
    assert chosen(["app"], entries) == {"app": "2", "lib": "3"}
    assert chosen(["app=1"], entries) == {"app": "1", "lib": "3"}
    assert chosen(["app"], entries, preferred={"lib": "2"}) == {"app": "2", "lib": "2"}
    # a locked version the dependency no longer takes gives way to the highest
    assert chosen(["app"], entries, preferred={"lib": "1"}) == {"app": "2", "lib": "3"}
    with pytest.raises(NoCandidate, match="the archive has 2, 1"):
        chosen(["app=9"], entries)


def test_a_dependency_no_alternative_can_meet_names_the_package_that_needs_it() -> None:
    with pytest.raises(NoCandidate, match=r"gone \| also-gone \(needed by app 1\)"):
        chosen(["app"], [stanza("app", depends="gone | also-gone")])
