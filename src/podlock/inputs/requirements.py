"""requirements.txt as real files write it: includes, index options, hashes, continuations.

Everything unsupported is an InputError with file and line, never a silent drop.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from podlock.errors import InputError
from podlock.urls import expand_vars, redact

_COMMENT = re.compile(r"(^|\s+)#.*$")
_KEEP = re.compile(r"#\s*kn:keep\s*$", re.IGNORECASE)
_HASH = re.compile(r"^(sha256|sha384|sha512):[0-9a-f]+$")

_UNSUPPORTED = {
    "-e": "editable installs are not locked; ship local code with the project directory "
    "(it is packaged automatically) or publish the package and pin a version",
    "--editable": "editable installs are not locked; ship local code with the project directory",
    "--no-binary": "podlock locks wheels and sdists as the index serves them; remove --no-binary",
    "--only-binary": "podlock keeps wheels for the target platforms already; remove --only-binary",
    "--prefer-binary": "podlock keeps wheels for the target platforms already; remove it",
    "--use-feature": "pip feature flags have no meaning in a lock; remove it",
    "--config-settings": "build settings are not recorded in a lock; remove it",
    "--global-option": "build settings are not recorded in a lock; remove it",
}


@dataclass(frozen=True, kw_only=True)
class Line:
    """Where a requirement came from: display path (relative to the project) and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, kw_only=True)
class RequirementLine:
    """One requirement as the user wrote it."""

    requirement: Requirement
    text: str  # as written, comment and hashes removed, credentials redacted
    origin: Line
    keep: bool = False  # the line ends in ``# kn:keep``
    hashes: tuple[str, ...] = ()
    constraint: bool = False  # from a ``-c`` file
    pre: bool = False  # ``--pre`` after the requirement: pre-releases allowed for it

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True, kw_only=True)
class IndexOptions:
    """Index directives; raw URLs keep ``${VAR}`` so credentials are expanded only at use."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    trusted_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Directive:
    """An option line as written (``${VAR}`` unexpanded, credentials redacted): with the
    requirement lines, it is what a file means, for naming the file whose meaning changed."""

    file: str
    text: str


@dataclass(frozen=True, kw_only=True)
class RequirementsSet:
    """A variant's dependencies: a requirements file and its includes, or pyproject lines."""

    source: str  # the file they start from, relative to the project
    requirements: tuple[RequirementLine, ...]
    constraints: tuple[RequirementLine, ...]
    options: IndexOptions
    files: tuple[str, ...]
    directives: tuple[Directive, ...] = ()
    missing_vars: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # accepted with a warning (e.g. ``--pre`` on a line)


@dataclass
class _State:
    root: Path
    env: Mapping[str, str] | None
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    trusted_hosts: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stack: list[Path] = field(default_factory=list)


def parse_requirements(
    path: Path, *, root: Path | None = None, env: Mapping[str, str] | None = None
) -> RequirementsSet:
    """Parse ``path`` and its ``-r``/``-c`` includes; paths are shown relative to ``root``."""
    state = _State(root=(root or path.parent).resolve(), env=env)
    _parse_file(path.resolve(), state, constraint=False, included_from=None)
    return RequirementsSet(
        source=display_path(path.resolve(), state.root),
        requirements=tuple(state.requirements),
        constraints=tuple(state.constraints),
        options=IndexOptions(
            index_url=state.index_url,
            extra_index_urls=tuple(dict.fromkeys(state.extra_index_urls)),
            find_links=tuple(dict.fromkeys(state.find_links)),
            no_index=state.no_index,
            pre=state.pre,
            trusted_hosts=tuple(dict.fromkeys(state.trusted_hosts)),
        ),
        files=tuple(state.files),
        directives=tuple(state.directives),
        missing_vars=tuple(dict.fromkeys(state.missing)),
        warnings=tuple(dict.fromkeys(state.warnings)),
    )


def display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _parse_file(path: Path, state: _State, *, constraint: bool, included_from: Line | None) -> None:
    shown = display_path(path, state.root)
    if path in state.stack:
        chain = " -> ".join(display_path(p, state.root) for p in [*state.stack, path])
        raise InputError(
            f"cyclic include: {chain}",
            file=included_from.file if included_from else shown,
            line=included_from.line if included_from else None,
            hint="remove one of the -r/-c lines that form the cycle",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"requirements file {shown} does not exist",
            file=included_from.file if included_from else None,
            line=included_from.line if included_from else None,
            hint="-r and -c paths are relative to the file that includes them",
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=shown) from None
    state.stack.append(path)
    state.files.append(shown)
    for lineno, logical in _logical_lines(text):
        _parse_line(logical, Line(file=shown, line=lineno), path, state, constraint=constraint)
    state.stack.pop()


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; each logical line keeps its first line number."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buf:
            start = number
        if raw.endswith("\\") and not _COMMENT.search(raw):
            buf.append(raw[:-1])
            continue
        buf.append(raw)
        out.append((start, " ".join(part.strip() for part in buf)))
        buf = []
    if buf:
        out.append((start, " ".join(part.strip() for part in buf)))
    return out


def _parse_line(logical: str, where: Line, path: Path, state: _State, *, constraint: bool) -> None:
    keep = bool(_KEEP.search(logical))
    content = _COMMENT.sub("", logical).strip()
    if not content:
        return
    expanded, missing = expand_vars(content, state.env)
    state.missing.extend(missing)
    if expanded.startswith("-"):
        state.directives.append(Directive(file=where.file, text=redact(" ".join(content.split()))))
        _parse_option(expanded, content, where, path, state)
        return
    req_text, hashes, pre = _split_options(expanded, where)
    try:
        req = Requirement(req_text)
    except InvalidRequirement as exc:
        raise InputError(
            f"not a valid requirement: {redact(req_text)!r} ({exc})",
            file=where.file,
            line=where.line,
            hint="write NAME[extras] SPECIFIER ; MARKER, or NAME @ URL",
        ) from None
    if constraint and (req.extras or req.url):
        raise InputError("constraints may not use extras or URLs", file=where.file, line=where.line)
    shown, _, _ = _split_options(content, where)
    if pre:
        state.warnings.append(
            f"{where}: --pre after {req.name}: pre-releases of {req.name} are allowed "
            "(put --pre on a line of its own to allow them for every package)"
        )
    entry = RequirementLine(
        requirement=req,
        text=redact(shown),
        origin=where,
        keep=keep,
        hashes=tuple(sorted(hashes)),
        constraint=constraint,
        pre=pre,
    )
    (state.constraints if constraint else state.requirements).append(entry)


def _split_options(text: str, where: Line) -> tuple[str, list[str], bool]:
    """The requirement, its ``--hash`` values, and whether ``--pre`` follows it."""
    if "--" not in text:
        return text, [], False
    head, _, tail = text.partition(" --")
    hashes: list[str] = []
    pre = False
    for token in shlex.split("--" + tail):
        opt, _, value = token.partition("=")
        if token == "--pre":
            pre = True
            continue
        if opt != "--hash":
            raise InputError(
                f"option {opt} is not allowed after a requirement",
                file=where.file,
                line=where.line,
                hint="only --hash=ALGO:DIGEST and --pre may follow a requirement on its line",
            )
        if not _HASH.match(value):
            raise InputError(
                f"malformed hash {value!r}",
                file=where.file,
                line=where.line,
                hint="write --hash=sha256:<64 hex digits>",
            )
        hashes.append(value)
    return head.strip(), hashes, pre


def _parse_option(expanded: str, raw: str, where: Line, path: Path, state: _State) -> None:
    try:
        tokens = shlex.split(expanded)
        raw_tokens = shlex.split(raw)
    except ValueError as exc:
        raise InputError(f"cannot split line: {exc}", file=where.file, line=where.line) from None
    opt, _, inline = tokens[0].partition("=")
    _, _, raw_inline = raw_tokens[0].partition("=")
    value = inline or (tokens[1] if len(tokens) > 1 else "")
    raw_value = raw_inline or (raw_tokens[1] if len(raw_tokens) > 1 else "")
    rest = tokens[1:] if inline else tokens[2:]
    if opt in _UNSUPPORTED:
        raise InputError(
            f"{opt} is not supported", file=where.file, line=where.line, hint=_UNSUPPORTED[opt]
        )
    flags = {"--no-index", "--pre"}
    if opt in flags:
        if inline or len(tokens) > 1:
            raise InputError(f"{opt} takes no value", file=where.file, line=where.line)
        state.no_index |= opt == "--no-index"
        state.pre |= opt == "--pre"
        return
    known = {
        "-r", "--requirement", "-c", "--constraint", "-i", "--index-url",
        "--extra-index-url", "-f", "--find-links", "--trusted-host",
    }  # fmt: skip
    if opt not in known:
        raise InputError(
            f"unknown option {opt}",
            file=where.file,
            line=where.line,
            hint="supported: -r, -c, --index-url, --extra-index-url, --find-links, "
            "--no-index, --pre, --trusted-host, and --hash after a requirement",
        )
    if not value or rest:
        raise InputError(f"{opt} takes exactly one value", file=where.file, line=where.line)
    if opt in ("-r", "--requirement", "-c", "--constraint"):
        _parse_file(
            (path.parent / value).resolve(),
            state,
            constraint=opt in ("-c", "--constraint"),
            included_from=where,
        )
    elif opt in ("-i", "--index-url"):
        state.index_url = raw_value
    elif opt == "--extra-index-url":
        state.extra_index_urls.append(raw_value)
    elif opt in ("-f", "--find-links"):
        if "://" not in value:
            raw_value = str((path.parent / value).resolve())
        state.find_links.append(raw_value)
    else:
        state.trusted_hosts.append(value)
