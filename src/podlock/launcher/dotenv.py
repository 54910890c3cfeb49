"""``.env`` files: ``KEY=value`` lines for ``podlock run`` (the environment already set wins).

The syntax is the common subset of docker's ``--env-file`` and python-dotenv: ``#``
comments, blank lines, an optional ``export``, single quotes taken literally, double quotes
with ``\\n``/``\\"`` escapes, and ``${VAR}`` expanded in unquoted and double-quoted values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from podlock.errors import InputError
from podlock.urls import expand_vars

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def parse(text: str, *, file: str, env: Mapping[str, str]) -> dict[str, str]:
    """The variables ``text`` sets; ``env`` (plus earlier lines) serves ``${VAR}``."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise InputError(
                "not a KEY=value line", file=file, line=number, hint="e.g. DATA_DIR=/data"
            )
        key, value = m.group(1), m.group(2)
        if value.startswith("'"):
            if len(value) < 2 or not value.endswith("'"):
                raise InputError("unterminated ' quote", file=file, line=number)
            value = value[1:-1]
        else:
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise InputError('unterminated " quote', file=file, line=number)
                value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
            else:
                value = re.sub(r"\s+#.*$", "", value)
            value, _missing = expand_vars(value, {**env, **out})
        out[key] = value
    return out


def read_dotenv(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the file's variables that ``env`` does not set; no file, no change."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return dict(env)
    values = parse(text, file=path.name, env=env)
    return {**values, **env}
