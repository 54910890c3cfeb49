"""A postinst's update-alternatives lines, read without running the script."""

from __future__ import annotations

from podlock.layers.debs import _alternatives

LIBBLAS3 = b"""#!/bin/sh
set -e
update-alternatives --install /usr/lib/x86_64-linux-gnu/libblas.so.3 \\
                    libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 10
exit 0
"""

MULTIARCH = b"""update-alternatives --quiet --install /usr/lib/${DEB_HOST_MULTIARCH}/libx.so.1 \\
    libx.so.1-${DEB_HOST_MULTIARCH} /usr/lib/${DEB_HOST_MULTIARCH}/x/libx.so.1 5
update-alternatives --install /usr/bin/tool tool $PREFIX/bin/tool 20
"""


def test_continuation_lines_are_joined() -> None:
    assert _alternatives(LIBBLAS3, "amd64") == [
        (
            "/usr/lib/x86_64-linux-gnu/libblas.so.3",
            "libblas.so.3-x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
            10,
        )
    ]


def test_the_multiarch_variable_is_expanded_and_other_variables_skipped() -> None:
    assert _alternatives(MULTIARCH, "arm64") == [
        (
            "/usr/lib/aarch64-linux-gnu/libx.so.1",
            "libx.so.1-aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu/x/libx.so.1",
            5,
        )
    ]
