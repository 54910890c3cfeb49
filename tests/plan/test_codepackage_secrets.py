"""Secrets by content: a file whose name looks innocent but holds a private key or a token
stays out of the code package, named with its rule; ``include-secrets`` lets one in, and
changes no lock's fingerprint."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder_helpers import HELLO
from podlock.inputs.codeconfig import CodeConfig
from podlock.plan.codepackage import collect
from podlock.plan.codescan import secret_in

# Token shapes built at run time, so this file itself holds none of them verbatim.
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
SHAPES = {
    "conf/settings.json": (
        json.dumps({"type": "service_account", "private" + "_key": "MIIEvQIBADAN"}),
        "service-account-key",
    ),
    "conf/deploy.txt": ("notes\n" + PEM, "private-key"),
    "conf/openssh": ("-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3Blbn\n", "private-key"),
    "src/aws.py": ('KEY = "' + "AKIA" + "Z" * 16 + '"\n', "aws-access-key"),
    "src/gh.py": ('T = "' + "ghp" + "_" + "a1" * 18 + '"\n', "github-token"),
    "src/ghpat.yaml": ("token: github" + "_pat_" + "A" * 30 + "\n", "github-token"),
    "src/gl.cfg": ("x=glpat" + "-" + "abcdefghij0123456789\n", "gitlab-token"),
    "src/pypi.ini": ("password = pypi" + "-AgEIcHlwaS5vcmc" + "Q" * 40 + "\n", "pypi-token"),
}
HARMLESS = {
    "src/ok.py": "private_key = None  # loaded at run time\nAKIA = 1\n",
    "src/pub.pem.txt": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
    "src/doc.md": "Tokens look like ghp_... or glpat-...; never commit one.\n",
}


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(HELLO, root)
    for rel, text in {**{k: v for k, (v, _) in SHAPES.items()}, **HARMLESS}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_content_rules_exclude_keys_and_tokens_and_package_list_names_the_rule(
    tmp_path: Path, cli: Any
) -> None:
    root = _project(tmp_path)
    result = cli("package", "list", "--project", str(root))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    for rel, (_, rule) in SHAPES.items():
        assert any(
            line.startswith(f"excluded  {rel}  (secret: content holds {rule} (line ")
            for line in lines
        ), (rel, result.out)
    included = {f.path for f in collect(root).files}
    assert set(HARMLESS) <= included
    assert not set(SHAPES) & included
    assert secret_in(PEM.encode()) == "secret: content holds private-key (line 1)"


def test_include_secrets_lets_a_listed_file_in_without_changing_the_lock_fingerprint(
    hello: Callable[..., Path], cli: Any
) -> None:
    root = hello()
    (root / "conf").mkdir()
    (root / "conf" / "settings.json").write_text(SHAPES["conf/settings.json"][0])
    (root / "conf" / "other.json").write_text(SHAPES["conf/settings.json"][0])
    lock = (root / "pylock.cpu.toml").read_text()
    before = collect(root)
    assert "conf/settings.json" in {e.path for e in before.excluded}
    config = root / "podlock.toml"
    config.write_text('include-secrets = ["conf/settings.json"]\n' + config.read_text())
    listed = cli("package", "list", "--project", str(root))
    assert listed.code == 0, listed.err
    assert (
        "included  conf/settings.json  (secret: content holds service-account-key (line 1); "
        "listed in include-secrets)"
    ) in listed.out.splitlines()
    assert any(
        line.startswith("excluded  conf/other.json  (secret: ") for line in listed.out.splitlines()
    )
    check = cli("lock", "--check", "--project", str(root))
    assert check.code == 0, check.out + check.err
    assert (root / "pylock.cpu.toml").read_text() == lock
    after = collect(root, CodeConfig(include_secrets=("conf/settings.json",)))
    assert "conf/settings.json" in {f.path for f in after.files}
    assert after.digest != before.digest
