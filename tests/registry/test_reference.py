"""One image reference, two forms: the registry's (Docker Hub's defaults filled in) and
the one the user wrote (what launch manifests and messages show)."""

from __future__ import annotations

import pytest

from podlock.errors import PodlockError
from podlock.registry.reference import Reference


@pytest.mark.parametrize(
    ("text", "api", "written"),
    [
        ("python:3.11", "docker.io/library/python:3.11", "python:3.11"),
        ("user/app", "docker.io/user/app:latest", "user/app"),
        ("docker.io/python", "docker.io/library/python:latest", "docker.io/python"),
        ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1"),
    ],
)
def test_a_reference_keeps_the_registry_form_and_the_written_one(
    text: str, api: str, written: str
) -> None:
    ref = Reference.parse(text, rules="launch")
    assert str(ref) == str(Reference.parse(text)) == api
    assert ref.as_written() == written


def test_the_launch_rules_keep_their_leniency_and_messages() -> None:
    assert Reference.parse("reg.io/app:v1+x", rules="launch").as_written() == "reg.io/app:v1+x"
    assert Reference.parse("reg.io/app@", rules="launch").as_written() == "reg.io/app"
    with pytest.raises(PodlockError, match="bad tag"):
        Reference.parse("reg.io/app:v1+x")
    with pytest.raises(PodlockError, match="is not an image reference"):
        Reference.parse("reg.io/a__b", rules="launch")
    assert Reference.parse("reg.io/a__b").repository == "a__b"
