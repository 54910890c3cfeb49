"""``[tool.podlock]`` / ``podlock.toml``: the config model, presets and validation.

Unknown keys are errors that name the key and the file, with the closest known key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from podlock.errors import ConfigError
from podlock.inputs.codeconfig import CodeConfig, load_code_config
from podlock.inputs.launchconfig import LaunchConfig, load_launch_config
from podlock.inputs.tables import (
    as_str,
    check_keys,
    choice,
    opt_str,
    str_list,
    str_value,
    subtable,
)
from podlock.platforms import Platform, parse_python

ACCELERATORS = ("cpu", "cuda", "tpu")
PYPI = "https://pypi.org/simple"
RUNTIME_PACKAGES = frozenset({"jax", "jaxlib", "libtpu", "libtpu-nightly"})

# Named indexes every project can route to; ``[indexes]`` in config overrides the URLs.
BUILTIN_INDEXES: Mapping[str, str] = {
    "pypi": PYPI,
    "pytorch-cpu": "https://download.pytorch.org/whl/cpu",
    "pytorch-cu121": "https://download.pytorch.org/whl/cu121",
    "pytorch-cu124": "https://download.pytorch.org/whl/cu124",
    "pytorch-cu128": "https://download.pytorch.org/whl/cu128",
}


@dataclass(frozen=True, kw_only=True)
class VariantConfig:
    """One named target: accelerator, platforms, Python, indexes and runtime."""

    name: str
    accelerator: str
    platforms: tuple[Platform, ...]
    python: str
    runtime: tuple[str, ...]
    sources: Mapping[str, str] = field(default_factory=dict)  # package -> index name/URL
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    base_image: str | None = None
    system_packages: tuple[str, ...] = ()
    requirements: str | None = None  # this variant's requirements file, instead of the project's
    extras: tuple[str, ...] = ()  # pyproject extras / PEP 735 groups for this variant only
    groups: tuple[str, ...] = ()
    keep_cuda: tuple[str, ...] = ()  # packages whose CUDA wheels a cpu/tpu lock may hold

    def to_dict(self) -> dict[str, Any]:
        """The meaning of the variant, for fingerprints and the lock's tool table."""
        return {
            "name": self.name,
            "accelerator": self.accelerator,
            "platforms": [str(p) for p in self.platforms],
            "python": self.python,
            "runtime": list(self.runtime),
            "sources": dict(sorted(self.sources.items())),
            "index-url": self.index_url,
            "extra-index-urls": list(self.extra_index_urls),
            "base-image": self.base_image,
            "system-packages": list(self.system_packages),
            "requirements": self.requirements,
            "extras": list(self.extras),
            "groups": list(self.groups),
        }


_PRESET_PLATFORMS = {
    "cpu": ("linux/amd64", "linux/arm64"),
    "cuda": ("linux/amd64", "linux/arm64"),
    "tpu": ("linux/amd64",),
}
_PRESET_RUNTIME = {"cpu": ("jax",), "cuda": ("jax[cuda12]",), "tpu": ("jax[tpu]",)}
# A TPU host has no GPU: its torch is the CPU build too, never PyPI's CUDA one (~4 GB of
# nvidia-* wheels per image).
_TORCH_CPU = {"torch": "pytorch-cpu", "torchvision": "pytorch-cpu", "torchaudio": "pytorch-cpu"}
_PRESET_SOURCES: Mapping[str, Mapping[str, str]] = {
    "cpu": _TORCH_CPU,
    "cuda": {},
    "tpu": _TORCH_CPU,
}


def preset(accelerator: str, *, name: str, python: str) -> VariantConfig:
    """The built-in variant for ``accelerator`` (``cpu``, ``cuda`` or ``tpu``)."""
    return VariantConfig(
        name=name,
        accelerator=accelerator,
        platforms=tuple(Platform.parse(p) for p in _PRESET_PLATFORMS[accelerator]),
        python=python,
        runtime=_PRESET_RUNTIME[accelerator],
        sources=dict(_PRESET_SOURCES[accelerator]),
        base_image=f"python:{python}-slim",
    )


@dataclass(frozen=True, kw_only=True)
class Config:
    """The project's podlock settings, validated."""

    file: str | None
    python: str
    variants: tuple[VariantConfig, ...]
    keep: frozenset[str] = frozenset()
    system_packages: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    indexes: Mapping[str, str] = field(default_factory=lambda: dict(BUILTIN_INDEXES))
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    resolver: str = "uv"
    variants_key: str = "variant"  # how the config spells variant tables: variant or variants
    launch: LaunchConfig = field(default_factory=LaunchConfig)  # [launch]: launch's defaults
    # What goes into the code package (include-secrets, exclude, include-large, [code]).
    # Not a lock input: it changes the code package, never the dependencies.
    code: CodeConfig = field(default_factory=CodeConfig)

    def selected(self, names: Sequence[str]) -> list[VariantConfig]:
        """The variants named (each checked), or all of them when none is."""
        return [self.variant(n) for n in names] or list(self.variants)

    def variant(self, name: str) -> VariantConfig:
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise ConfigError(
            f"unknown variant {name!r}",
            file=self.file,
            hint=f"this project's variants are: {known}; add [variants.{name}] to the config",
        )

    def resolve_index(self, ref: str) -> str:
        """A source value is an index name from ``[indexes]`` or a URL."""
        if "://" in ref or ref.startswith("/"):
            return ref
        if ref not in self.indexes:
            raise ConfigError(
                f"unknown index {ref!r}",
                file=self.file,
                hint=f"define it under [indexes] (known: {', '.join(sorted(self.indexes))})",
            )
        return self.indexes[ref]


_TOP_KEYS = {
    "python", "platforms", "variants", "variant", "keep", "system-packages", "extras",
    "groups", "indexes", "index-url", "extra-index-urls", "find-links", "resolver", "launch",
    "include-secrets", "exclude", "include-large", "code",
}  # fmt: skip
_VARIANT_KEYS = {
    "accelerator", "platforms", "python", "runtime", "sources", "index-url",
    "extra-index-urls", "base-image", "system-packages", "requirements", "extras", "groups",
    "keep-cuda",
}  # fmt: skip

# Given the variants that don't set their own python, the target Python when config has none.
DefaultPython = Callable[[Sequence[str]], str]


def running_python(_: Sequence[str] = ()) -> str:
    """The running interpreter's ``X.Y``: the last resort for the target Python."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def load_config(
    table: Mapping[str, Any], *, file: str | None, default_python: DefaultPython = running_python
) -> Config:
    """Validate a ``[tool.podlock]`` table (or a whole ``podlock.toml``)."""
    check_keys(table, _TOP_KEYS, file=file, prefix="")
    variant_table = table.get("variants", list(ACCELERATORS))
    names, specs = _variant_specs(table, variant_table, file)
    if not names:
        raise ConfigError("variants is empty", file=file, hint='e.g. variants = ["cpu", "tpu"]')
    if "python" in table:
        python = parse_python(str_value(table, "python", file), where=file)
    else:
        python = default_python(
            [n for n in names if not (isinstance(specs.get(n), dict) and "python" in specs[n])]
        )
    indexes = dict(BUILTIN_INDEXES)
    for key, value in subtable(table, "indexes", file).items():
        indexes[key] = as_str(value, f"indexes.{key}", file)
    platforms = _platforms(table, "platforms", file) if "platforms" in table else None
    variants = _load_variants(
        names, specs, python=python, platforms=platforms, file=file, indexes=indexes
    )
    keep = _keep(table, file)
    return Config(
        launch=load_launch_config(table, file=file),
        code=load_code_config(table, file=file),
        file=file,
        python=python,
        variants=variants,
        keep=keep,
        system_packages=tuple(str_list(table, "system-packages", file)),
        extras=tuple(str_list(table, "extras", file)),
        groups=tuple(str_list(table, "groups", file)),
        indexes=indexes,
        index_url=opt_str(table, "index-url", file),
        extra_index_urls=tuple(str_list(table, "extra-index-urls", file)),
        find_links=tuple(str_list(table, "find-links", file)),
        resolver=choice(table, "resolver", ("uv", "python"), "uv", file),
        variants_key="variants" if isinstance(variant_table, dict) else "variant",
    )


def _variant_specs(
    table: Mapping[str, Any], variant_table: Any, file: str | None
) -> tuple[list[str], Mapping[str, Any]]:
    """The names of the variants to lock and each one's settings table.

    Two spellings, since TOML can't have both `variants = [...]` and `[variants.x]`:
    a list of names plus `[variant.<name>]` settings, or one `[variants.<name>]` table
    per variant to lock (presets apply by name either way).
    """
    specs: Mapping[str, Any]
    if isinstance(variant_table, list):
        names = [as_str(n, "variants", file) for n in variant_table]
        specs = subtable(table, "variant", file)
        for extra in sorted(set(specs) - set(names)):
            raise ConfigError(
                f"[variant.{extra}] configures a variant that is not in variants",
                file=file,
                hint=f'add "{extra}" to variants = [...]',
            )
    elif isinstance(variant_table, dict):
        if "variant" in table:
            raise ConfigError(
                "use either [variants.<name>] tables or variants = [...] with [variant.<name>]",
                file=file,
            )
        names = list(variant_table)
        specs = variant_table
    else:
        raise ConfigError("variants must be a list of names or a table", file=file)
    return names, specs


def _keep(table: Mapping[str, Any], file: str | None) -> frozenset[str]:
    keep = frozenset(canonicalize_name(k) for k in str_list(table, "keep", file))
    unknown_keep = keep - RUNTIME_PACKAGES
    if unknown_keep:
        raise ConfigError(
            f"keep names {', '.join(sorted(unknown_keep))}, which are not runtime packages",
            file=file,
            hint=f"keep applies to {', '.join(sorted(RUNTIME_PACKAGES))}",
        )
    return keep


def _load_variants(
    names: Sequence[str],
    specs: Mapping[str, Any],
    *,
    python: str,
    platforms: tuple[Platform, ...] | None,
    file: str | None,
    indexes: Mapping[str, str],
) -> tuple[VariantConfig, ...]:
    """Every variant, or one ConfigError that names the problems of all of them (a user
    fixes them in one go, not one variant per run)."""
    loaded: list[VariantConfig] = []
    errors: list[ConfigError] = []
    for name in names:
        try:
            spec = specs.get(name, {})
            loaded.append(
                _load_variant(
                    name, spec, python=python, platforms=platforms, file=file, indexes=indexes
                )
            )
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        hints = dict.fromkeys(e.hint for e in errors if e.hint)
        shown = [e.message.removeprefix(f"{file}: ") for e in errors]
        raise ConfigError(
            f"{len(errors)} variants have errors:\n" + "\n".join(f"  {m}" for m in shown),
            file=file,
            hint="; ".join(hints) or None,
        )
    return tuple(loaded)


def _platforms(table: Mapping[str, Any], shown: str, file: str | None) -> tuple[Platform, ...]:
    """``table["platforms"]``, parsed; ``shown`` is the key as the user wrote it."""
    values = str_list(table, "platforms", file)
    try:
        found = tuple(dict.fromkeys(Platform.parse(p) for p in values))
    except ConfigError as exc:
        raise ConfigError(f"{shown}: {exc.message}", file=file, hint=exc.hint) from None
    if not found:
        raise ConfigError(f"{shown} is empty", file=file)
    return found


def _load_variant(
    name: str,
    spec: Any,
    *,
    python: str,
    platforms: tuple[Platform, ...] | None,
    file: str | None,
    indexes: Mapping[str, str],
) -> VariantConfig:
    where = f"variants.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table", file=file)
    check_keys(spec, _VARIANT_KEYS, file=file, prefix=f"{where}.")
    accelerator = spec.get("accelerator", name if name in ACCELERATORS else None)
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"unknown variant {name!r}"
            if accelerator is None
            else f"{where}.accelerator must be one of {', '.join(ACCELERATORS)}",
            file=file,
            hint=f"built-in variants are {', '.join(ACCELERATORS)}; a custom variant needs "
            f'[variants.{name}] accelerator = "cpu" | "cuda" | "tpu"',
        )
    vpython = parse_python(spec["python"], where=file) if "python" in spec else python
    base = preset(accelerator, name=name, python=vpython)
    # The variant's own platforms, else the config's top-level ones, else the preset's.
    if "platforms" in spec:
        platforms = _platforms(spec, f"{where}.platforms", file)
    platforms = platforms or base.platforms
    runtime = _runtime(spec, where, file) if "runtime" in spec else base.runtime
    sources = dict(base.sources)  # preset keys are canonical already
    sources.update(_sources(spec, where, file, indexes))
    return VariantConfig(
        name=name,
        accelerator=accelerator,
        platforms=platforms,
        python=vpython,
        runtime=runtime,
        sources=sources,
        index_url=opt_str(spec, "index-url", file),
        extra_index_urls=tuple(str_list(spec, "extra-index-urls", file)),
        base_image=opt_str(spec, "base-image", file) or base.base_image,
        system_packages=tuple(str_list(spec, "system-packages", file)),
        requirements=opt_str(spec, "requirements", file),
        extras=tuple(str_list(spec, "extras", file)),
        groups=tuple(str_list(spec, "groups", file)),
        keep_cuda=tuple(canonicalize_name(n) for n in str_list(spec, "keep-cuda", file)),
    )


def _runtime(spec: Mapping[str, Any], where: str, file: str | None) -> tuple[str, ...]:
    runtime = tuple(str_list(spec, "runtime", file))
    for text in runtime:
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            raise ConfigError(f"{where}.runtime: {text!r} is invalid ({exc})", file=file) from None
    return runtime


def _sources(
    spec: Mapping[str, Any], where: str, file: str | None, indexes: Mapping[str, str]
) -> dict[str, str]:
    """``[variants.<name>.sources]``: package -> index name or URL, keys canonical."""
    sources: dict[str, str] = {}
    for pkg, ref in subtable(spec, "sources", file).items():
        ref = as_str(ref, f"{where}.sources.{pkg}", file)
        if "://" not in ref and ref not in indexes:
            raise ConfigError(
                f"{where}.sources.{pkg} names unknown index {ref!r}",
                file=file,
                hint=f"define it under [indexes] (known: {', '.join(sorted(indexes))})",
            )
        sources[canonicalize_name(pkg)] = ref
    return sources
