"""Config: defaults, presets, and errors that name the key."""

from __future__ import annotations

import sys

import pytest

from podlock.errors import ConfigError
from podlock.inputs.config import load_config
from podlock.platforms import Platform


def test_defaults_are_the_three_presets_for_the_running_python() -> None:
    config = load_config({}, file=None)
    assert [v.name for v in config.variants] == ["cpu", "cuda", "tpu"]
    assert config.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    cpu, cuda, tpu = config.variants
    assert [str(p) for p in cpu.platforms] == ["linux/amd64", "linux/arm64"]
    assert cpu.sources["torch"] == "pytorch-cpu"
    assert cpu.runtime == ("jax",)
    assert cuda.runtime == ("jax[cuda12]",)
    assert "torch" not in cuda.sources
    assert [str(p) for p in tpu.platforms] == ["linux/amd64"]
    assert tpu.runtime == ("jax[tpu]",)


def test_variant_overrides_and_custom_variants() -> None:
    config = load_config(
        {
            "python": "3.12",
            "variants": {
                "cpu": {"platforms": ["linux/amd64", "darwin/arm64"]},
                "cu121": {
                    "accelerator": "cuda",
                    "sources": {"torch": "pytorch-cu121"},
                    "runtime": ["jax[cuda12]==0.6.2"],
                    "system-packages": ["libgl1"],
                },
            },
            "indexes": {"pytorch-cu121": "http://127.0.0.1:1/cu121/simple"},
            "system-packages": ["ffmpeg"],
            "keep": ["JAX"],
        },
        file="podlock.toml",
    )
    cpu = config.variant("cpu")
    assert cpu.platforms == (Platform("linux", "amd64"), Platform("darwin", "arm64"))
    cu = config.variant("cu121")
    assert cu.accelerator == "cuda"
    assert cu.runtime == ("jax[cuda12]==0.6.2",)
    assert config.resolve_index(cu.sources["torch"]) == "http://127.0.0.1:1/cu121/simple"
    assert config.keep == {"jax"}
    assert cu.python == "3.12"


@pytest.mark.parametrize(
    ("table", "message", "hint"),
    [
        ({"pyhton": "3.12"}, "unknown config key 'pyhton'", "did you mean 'python'?"),
        ({"variants": {"cpu": {"platfroms": []}}}, "'variants.cpu.platfroms'", "platforms"),
        ({"variants": ["gpu"]}, "unknown variant 'gpu'", "custom variant needs"),
        ({"variants": {"cpu": {"platforms": ["linux/s390x"]}}}, "unknown platform", "linux/amd64"),
        ({"python": "3"}, "python must be written X.Y", None),
        ({"keep": ["numpy"]}, "not runtime packages", "jax"),
        (
            {"variants": {"cpu": {"sources": {"torch": "nope"}}}},
            "unknown index 'nope'",
            "[indexes]",
        ),
        ({"variants": []}, "variants is empty", None),
        ({"variants": ["cpu"], "variant": {"tpu": {}}}, "not in variants", 'add "tpu"'),
    ],
)
def test_bad_config_names_the_key(table: dict[str, object], message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(table, file="podlock.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("podlock.toml")
    if hint:
        assert err.value.hint and hint in err.value.hint


def test_variant_settings_with_a_list_of_variants() -> None:
    config = load_config(
        {"variants": ["cpu", "tpu"], "variant": {"tpu": {"base-image": "my/tpu:1"}}}, file=None
    )
    assert [v.name for v in config.variants] == ["cpu", "tpu"]
    assert config.variant("tpu").base_image == "my/tpu:1"


def test_platform_markers_and_tags() -> None:
    amd = Platform.parse("linux/amd64")
    assert amd.marker == "sys_platform == 'linux' and platform_machine == 'x86_64'"
    tags = {str(t) for t in amd.tags("3.12")}
    assert "cp312-cp312-manylinux_2_17_x86_64" in tags
    assert "cp312-abi3-manylinux2014_x86_64" in tags
    assert "py3-none-any" in tags
    assert "cp311-cp311-manylinux_2_17_x86_64" not in tags
    assert not any("aarch64" in t or "musllinux" in t for t in tags)
    mac = {str(t) for t in Platform.parse("darwin/arm64").tags("3.12")}
    assert "cp312-cp312-macosx_11_0_arm64" in mac
    assert Platform.parse("linux/x86_64") == amd


def test_top_level_platforms_apply_to_variants_without_their_own() -> None:
    config = load_config(
        {
            "platforms": ["linux/amd64"],
            "variants": {"cpu": {}, "cuda": {"platforms": ["linux/arm64"]}, "tpu": {}},
        },
        file=None,
    )
    cpu, cuda, tpu = config.variants
    assert [str(p) for p in cpu.platforms] == ["linux/amd64"]
    assert [str(p) for p in cuda.platforms] == ["linux/arm64"]  # the variant table wins
    assert [str(p) for p in tpu.platforms] == ["linux/amd64"]


def test_every_variants_config_errors_come_in_one_run() -> None:
    table = {
        "platforms": ["linux/amd64"],
        "variants": {
            "cpu": {"platforms": ["linux/x86"]},
            "cuda": {"platforms": []},
            "tpu": {"sources": {"torch": "nope"}},
        },
    }
    with pytest.raises(ConfigError) as err:
        load_config(table, file="podlock.toml")
    message = str(err.value)
    assert message.startswith("podlock.toml: 3 variants have errors:")
    assert "variants.cpu.platforms: unknown platform 'linux/x86'" in message
    assert "variants.cuda.platforms is empty" in message
    assert "variants.tpu.sources.torch names unknown index 'nope'" in message
    assert err.value.hint and "linux/amd64" in err.value.hint and "[indexes]" in err.value.hint
    with pytest.raises(ConfigError, match="platforms: unknown platform 'mac'"):
        load_config({"platforms": ["mac"]}, file="podlock.toml")
