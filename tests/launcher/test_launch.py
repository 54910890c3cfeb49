"""Launch planning without a cluster: the variant follows the accelerator, the image is
published by digest (through a Publisher) unless one is given, names never collide."""

from __future__ import annotations

from pathlib import Path

import pytest
from launcher_helpers import DIGEST

from podlock.errors import PodlockError
from podlock.inputs.config import load_config
from podlock.launcher.accelerators import parse
from podlock.launcher.launch import (
    LaunchSpec,
    choose_variant,
    job_request,
    parse_env,
    resolve_image,
)
from podlock.launcher.manifests import MAX_NAME
from podlock.registry.reference import Reference
from podlock.reporter import ListReporter, Reporter

CONFIG = load_config({"variants": ["cpu", "cuda", "tpu"]}, file="podlock.toml")


class RecordingPublisher:
    """Stands in for build+push where the registry is not what is tested."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[Path, str, str, str]] = []

    def publish(
        self, root: Path, variant: str, *, mode: str, repository: str, reporter: Reporter
    ) -> str:
        self.calls.append((root, variant, mode, repository))
        return self.answer


def spec(**kw: object) -> LaunchSpec:
    return LaunchSpec(
        accelerator=parse(str(kw.pop("accelerator", "v6e-8"))), command=("python", "t.py"), **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("accelerator", "variant"), [("v6e-8", "tpu"), ("h100x8", "cuda"), ("cpu", "cpu")]
)
def test_the_variant_follows_the_accelerator(accelerator: str, variant: str) -> None:
    assert choose_variant(CONFIG, parse(accelerator), None).name == variant


def test_a_project_without_that_variant_says_to_add_it() -> None:
    config = load_config({"variants": ["cpu"]}, file="podlock.toml")
    with pytest.raises(PodlockError, match="tpu-v6e-8 needs a tpu variant") as err:
        choose_variant(config, parse("v6e-8"), None)
    assert 'add "tpu" to variants' in (err.value.hint or "")


def test_several_variants_of_a_kind_need_a_choice() -> None:
    config = load_config(
        {"variants": {"tpu-a": {"accelerator": "tpu"}, "tpu-b": {"accelerator": "tpu"}}},
        file="podlock.toml",
    )
    with pytest.raises(PodlockError, match="several tpu variants: tpu-a, tpu-b"):
        choose_variant(config, parse("v6e-8"), None)
    assert choose_variant(config, parse("v6e-8"), "tpu-b").name == "tpu-b"


def test_a_tpu_lock_on_a_gpu_is_refused() -> None:
    with pytest.raises(PodlockError, match="variant tpu is a tpu lock, but h100x8 is a gpu"):
        choose_variant(CONFIG, parse("h100x8"), "tpu")


def test_an_image_with_a_digest_is_used_as_it_is(tmp_path: Path) -> None:
    publisher = RecordingPublisher("unused")
    ref = f"reg.example/team/app@{DIGEST}"
    got = resolve_image(
        spec(image=ref), root=tmp_path, variant=CONFIG.variant("tpu"), publisher=publisher,
        check=lambda _r: None,
    )  # fmt: skip
    assert got == ref and publisher.calls == []


def test_bundled_publishes_to_the_registry_named_in_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "Hello"
    publisher = RecordingPublisher(f"reg.example/team/hello@{DIGEST}")
    got = resolve_image(
        spec(mode="prebuilt"), root=root, variant=CONFIG.variant("tpu"), publisher=publisher,
        environ={"PODLOCK_REGISTRY": "reg.example/team/"},
    )  # fmt: skip
    assert got == f"reg.example/team/hello@{DIGEST}"
    assert publisher.calls == [(root, "tpu", "prebuilt", "reg.example/team/hello")]


def test_bundled_pushes_to_the_image_repository_given(tmp_path: Path) -> None:
    publisher = RecordingPublisher(f"reg.example/x/y@{DIGEST}")
    resolve_image(spec(image="reg.example/x/y:old"), root=tmp_path, variant=CONFIG.variant("tpu"),
                  publisher=publisher, environ={})  # fmt: skip
    assert publisher.calls[0][3] == "reg.example/x/y"


@pytest.mark.parametrize(
    ("kw", "said"),
    [
        ({}, "no registry was named"),
        ({"image": "team/app"}, "names no registry host"),
        ({"mode": "custom"}, "--mode custom runs your image"),
        ({"mode": "fancy"}, "unknown mode 'fancy'"),
    ],
)
def test_unusable_image_requests_are_clear(tmp_path: Path, kw: dict[str, str], said: str) -> None:
    with pytest.raises(PodlockError, match=said):
        resolve_image(spec(**kw), root=tmp_path, variant=CONFIG.variant("tpu"),
                      publisher=RecordingPublisher("x"), environ={})  # fmt: skip


def test_a_publisher_must_answer_with_a_digest(tmp_path: Path) -> None:
    with pytest.raises(PodlockError, match="has no digest"):
        resolve_image(spec(image="reg.example/a"), root=tmp_path, variant=CONFIG.variant("tpu"),
                      publisher=RecordingPublisher("reg.example/a:latest"), environ={})  # fmt: skip


def test_a_custom_image_by_tag_is_warned_about() -> None:
    reporter = ListReporter()
    got = resolve_image(spec(mode="custom", image="reg.example/a:v1"), root=None, variant=None,
                        publisher=None, reporter=reporter, check=lambda _r: True)  # fmt: skip
    assert got == "reg.example/a:v1"
    assert "is a tag" in reporter.warnings[0]


def test_launch_names_are_unique_and_short() -> None:
    long = "a-project-with-a-really-long-descriptive-name"
    names = {
        job_request(spec(accelerator="tpu-v5litepod-256"), "i", base=long).name for _ in range(20)
    }
    assert len(names) == 20
    assert all(len(n) <= MAX_NAME and n.startswith("a-project-with") for n in names)
    fixed = job_request(spec(), "i", base="hello", unique=False).name
    assert fixed == "hello-v6e-8"


def test_image_references_parse() -> None:
    ref = Reference.parse(f"127.0.0.1:5000/team/app:v1@{DIGEST}", rules="launch")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "team/app",
        "v1",
        DIGEST,
    )
    assert Reference.parse("python:3.11", rules="launch").written_registry is None
    with pytest.raises(PodlockError, match="sha256:<64 hex digits>"):
        Reference.parse("reg.example/a@sha256:short", rules="launch")


def test_env_pairs_parse() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(PodlockError, match="expected KEY=VALUE"):
        parse_env(["A"])
