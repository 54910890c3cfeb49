"""What the preflight found: each finding says what is missing (the job cannot run) or what
podlock could not tell (a warning), and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from podlock.errors import PodlockError

Check = Literal["namespace", "rbac", "nodes", "capacity", "jobset", "queue", "versions", "priority"]
Severity = Literal["missing", "warning"]  # missing: the job cannot run; warning: can't tell


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: Check
    severity: Severity
    message: str
    hint: str = ""


class PreflightFailed(PodlockError):
    """The cluster lacks something the job needs; ``findings`` says what."""

    exit_code = 2

    def __init__(self, where: str, findings: list[Finding]) -> None:
        lines = [f"  - {f.message}" + (f"\n    fix: {f.hint}" if f.hint else "") for f in findings]
        super().__init__(
            f"{where} cannot run this job; nothing was built or submitted:\n" + "\n".join(lines),
            hint="fix what is listed (or pass --no-preflight to submit anyway)",
        )
        self.findings = findings
