"""The manifests podlock renders, checked as the API server checks them under strict field
validation (kubectl's default): a Job and every Job template by kubernetes-validate (strict),
a JobSet by the JobSet CRD's own openAPIV3Schema (vendored in tests/data/jobset, see its
README).

A CRD's structural schema leaves ``additionalProperties`` out: the API server prunes a field
it does not declare, or refuses it under strict field validation. A JSON Schema validator
would let it through, so ``closed`` declares it: an object schema with ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` takes nothing else. The CRD's CEL rules
(``x-kubernetes-validations``) are not evaluated: the create-time ones concern fields podlock
never sets (startupPolicy with dependsOn, volumeClaimPolicies).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD = Path(__file__).parents[1] / "data" / "jobset" / "jobset.x-k8s.io_jobsets.yaml"
K8S_VERSION = "1.33.0"
JOBSET_VERSION = "v1alpha2"


def closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever the API server would refuse
    an undeclared field (see the module's docstring)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: closed(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = closed(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [closed(s) for s in out[key]]
    return out


@cache
def jobset_validator() -> jsonschema.Draft4Validator:
    crd = yaml.load(CRD.read_text(), Loader=yaml.CSafeLoader)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == JOBSET_VERSION]
    return jsonschema.Draft4Validator(closed(version["schema"]["openAPIV3Schema"]))


def jobset_errors(jobset: dict[str, Any]) -> list[str]:
    """What the JobSet CRD's schema refuses in ``jobset``, one line per error."""
    found = [
        f"jobset.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jobset_validator().iter_errors(jobset)
    ]
    # The CRD says only `metadata: object`; the API server checks it as any object's
    # ObjectMeta, which kubernetes-validate does on an object that has nothing else.
    holder = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": jobset.get("metadata")}
    found += [e.replace("ConfigMap", "JobSet", 1) for e in job_errors(holder)]
    wanted = f"jobset.x-k8s.io/{JOBSET_VERSION}"
    if jobset.get("apiVersion") != wanted:
        found.append(f"jobset.apiVersion: {jobset.get('apiVersion')!r}, the CRD serves {wanted}")
    return found


def job_errors(job: dict[str, Any]) -> list[str]:
    """What kubernetes-validate (strict: unknown fields refused) refuses in a built-in object
    (a batch/v1 Job)."""
    try:
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(map(str, exc.path))
        return [f"{job['kind']} {(job['metadata'] or {}).get('name')} {where}: {exc.message}"]
    return []


def jobs_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest itself, or for a JobSet each replicated Job's template as a Job."""
    if manifest["kind"] != "JobSet":
        return [manifest]
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                **rj["template"].get("metadata", {}),
                "name": f"{manifest['metadata']['name']}-{rj['name']}-0",
            },
            "spec": rj["template"]["spec"],
        }
        for rj in manifest["spec"]["replicatedJobs"]
    ]


def manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """Everything the API server (strict field validation) would refuse in ``manifest``."""
    found = jobset_errors(manifest) if manifest.get("kind") == "JobSet" else []
    return found + [e for job in jobs_of(manifest) for e in job_errors(job)]
