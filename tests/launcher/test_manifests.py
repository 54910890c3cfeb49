"""Rendered manifests: golden files per accelerator class, deterministic; every one rendered
here, and every golden file, is what the API server takes under strict field validation
(kubernetes-validate strict for Jobs, the JobSet CRD's schema for JobSets)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from launcher_helpers import DIGEST, GOLDEN, check_golden, podlock
from manifest_schemas import K8S_VERSION, job_errors, jobs_of, jobset_errors, manifest_errors

from podlock.launcher.accelerators import parse
from podlock.launcher.manifests import JobRequest, render, to_yaml

IMAGE = f"us-docker.pkg.dev/proj/repo/hello@{DIGEST}"
CLASSES = {
    "cpu": "cpu",
    "gpu": "h100x8",
    "tpu-single-host": "tpu-v6e-8",
    "tpu-multi-host": "tpu-v6e-16",
    "tpu7x-single-host": "tpu7x-8",
    "tpu7x-multi-host": "tpu7x-16",
}
# (golden file, accelerator, extra render arguments)
FLEET = [
    ("tpu-v6e-16-2-slices-queued.yaml", "tpu-v6e-16", ("--slices", "2", "--queue", "team-a")),
    ("tpu7x-128-2-slices.yaml", "tpu7x-128", ("--slices", "2")),
    ("cpu-queued.yaml", "cpu", ("--queue", "team-a")),
]


def rendered(cli: Any, accelerator: str, *extra: str) -> str:
    result = cli(
        "render", "--accelerator", accelerator, "--image", IMAGE, *extra,
        "--", "python", "-m", "app.train", "--steps", "10",
    )  # fmt: skip
    assert result.code == 0, result.err
    for manifest in yaml.safe_load_all(result.out):
        assert manifest_errors(manifest) == []
    return str(result.out)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_render_matches_golden_file(cli: Any, kind: str) -> None:
    check_golden(f"{kind}.yaml", rendered(cli, CLASSES[kind], "--env", "DATA=/data"))


@pytest.mark.parametrize(("golden", "accelerator", "extra"), FLEET)
def test_multi_slice_and_queued_manifests_match_golden_files_and_validate(
    cli: Any, golden: str, accelerator: str, extra: tuple[str, ...]
) -> None:
    check_golden(golden, rendered(cli, accelerator, *extra))  # rendered() validates


def test_prebuilt_mode_keeps_the_image_entrypoint(cli: Any) -> None:
    text = rendered(cli, "tpu-v5litepod-4", "--mode", "prebuilt", "--namespace", "team")
    check_golden("tpu-single-host-prebuilt.yaml", text)
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container  # the image's installer entrypoint runs first
    assert container["args"] == ["python", "-m", "app.train", "--steps", "10"]


@pytest.mark.parametrize("accelerator", [*CLASSES.values(), "v5p-16", "l4x2", "a100-80gbx4"])
def test_render_is_deterministic(cli: Any, accelerator: str) -> None:
    child = podlock(
        "render", "--accelerator", accelerator, "--image", IMAGE,
        "--", "python", "-m", "app.train", "--steps", "10",
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert rendered(cli, accelerator) == child.stdout


@pytest.mark.parametrize("accelerator", [*CLASSES.values(), "v5p-16", "v5litepod-256", "a100x16"])
def test_manifests_pass_kubernetes_validate_strict(cli: Any, accelerator: str) -> None:
    assert rendered(cli, accelerator, "--env", "A=1")  # rendered() validates


@pytest.mark.parametrize(
    "extra",
    [
        ("--accelerator", "tpu-v6e-16"),
        ("--accelerator", "tpu-v6e-16", "--slices", "2", "--queue", "team-a"),
        ("--accelerator", "tpu7x-128", "--slices", "2"),
        ("--accelerator", "v5p-64"),
        ("--accelerator", "v5p-64", "--mode", "prebuilt", "--slices", "3"),
    ],
    ids=" ".join,
)
def test_multi_host_jobsets_pass_the_jobset_crd_and_kubernetes_validate(
    cli: Any, extra: tuple[str, ...]
) -> None:
    [jobset] = yaml.safe_load_all(rendered(cli, extra[1], *extra[2:]))
    assert jobset["kind"] == "JobSet"
    assert jobset_errors(jobset) == []
    assert [job_errors(job) for job in jobs_of(jobset)] == [[]] * len(jobs_of(jobset))


@pytest.mark.parametrize("golden", sorted(p.name for p in GOLDEN.glob("*.yaml")))
def test_golden_manifests_pass_the_api_servers_validation(golden: str) -> None:
    manifests = list(yaml.safe_load_all((GOLDEN / golden).read_text()))
    assert manifests
    for manifest in manifests:
        assert manifest_errors(manifest) == [], golden


def test_kubernetes_validate_is_strict_here() -> None:
    [job] = render(JobRequest(name="t", image=IMAGE, command=("true",), accelerator=parse("cpu")))
    job["spec"]["template"]["spec"]["nodeSelectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="nodeSelectr"):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


@pytest.mark.parametrize("accelerator", ["tpu-v6e-16", "v5p-16", "v5litepod-64", "tpu7x-64"])
def test_jobset_is_one_slice_per_node_pool(cli: Any, accelerator: str) -> None:
    [jobset] = yaml.safe_load_all(rendered(cli, accelerator))  # rendered() validates
    assert (jobset["apiVersion"], jobset["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    annotations = jobset["metadata"]["annotations"]
    assert annotations["alpha.jobset.sigs.k8s.io/exclusive-topology"] == (
        "cloud.google.com/gke-nodepool"
    )


def test_the_jobset_crd_check_refuses_unknown_fields_wrong_types_and_enums() -> None:
    [jobset] = render(
        JobRequest(name="t", image=IMAGE, command=("true",), accelerator=parse("v6e-16"))
    )
    assert jobset_errors(jobset) == []
    jobset["spec"]["replicatedJobs"][0]["replicaz"] = 1
    jobset["spec"]["network"]["enableDNSHostnames"] = "yes"
    jobset["spec"]["successPolicy"] = {"operator": "Most"}
    jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["hostnam"] = "x"
    found = jobset_errors(jobset)
    assert any("replicaz" in e and "replicatedJobs.0" in e for e in found), found
    assert any("enableDNSHostnames" in e and "'yes' is not of type 'boolean'" in e for e in found)
    assert any("successPolicy.operator" in e and "'Most' is not one of" in e for e in found)
    assert any("hostnam" in e for e in found), found  # deep in the embedded pod template
    jobset["metadata"]["labelz"] = {}
    assert any("JobSet t" in e and "labelz" in e for e in jobset_errors(jobset))
    jobset["apiVersion"] = "jobset.x-k8s.io/v1"
    assert any("the CRD serves jobset.x-k8s.io/v1alpha2" in e for e in jobset_errors(jobset))


def test_a_replicated_job_template_is_checked_as_a_job() -> None:
    [jobset] = render(
        JobRequest(name="t", image=IMAGE, command=("true",), accelerator=parse("v6e-16"))
    )
    jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["parallelism"] = "four"
    [job] = jobs_of(jobset)
    [error] = job_errors(job)  # kubernetes-validate's, strict
    assert "parallelism" in error and "'four' is not of type 'integer'" in error
    assert error in manifest_errors(jobset)


def test_multi_host_slice_gets_indexed_workers_and_jax_environment() -> None:
    request = JobRequest(
        name="train", image=IMAGE, command=("python", "t.py"), accelerator=parse("v6e-16")
    )
    [jobset] = render(request)
    job = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert (job["completionMode"], job["parallelism"], job["completions"]) == ("Indexed", 4, 4)
    env = {e["name"]: e for e in job["template"]["spec"]["containers"][0]["env"]}
    assert env["TPU_WORKER_HOSTNAMES"]["value"] == ",".join(
        f"train-slice-0-{i}.train" for i in range(4)
    )
    assert env["JAX_COORDINATOR_ADDRESS"]["value"] == "train-slice-0-0.train:8476"
    assert env["TPU_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert jobset["spec"]["network"]["enableDNSHostnames"] is True  # the headless Service
    resources = job["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"google.com/tpu": "4"}, "limits": {"google.com/tpu": "4"}}


def test_two_slices_get_one_job_each_and_the_megascale_environment_jax_reads() -> None:
    request = JobRequest(
        name="train", image=IMAGE, command=("python", "t.py"), accelerator=parse("v6e-16"),
        slices=2, queue="team-a",
    )  # fmt: skip
    [jobset] = render(request)
    [rjob] = jobset["spec"]["replicatedJobs"]
    assert rjob["replicas"] == 2  # one Job per slice, each in its own node pool:
    assert (
        jobset["metadata"]["annotations"]["alpha.jobset.sigs.k8s.io/exclusive-topology"]
        == "cloud.google.com/gke-nodepool"
    )
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    container = rjob["template"]["spec"]["template"]["spec"]["containers"][0]
    env = [e["name"] for e in container["env"]]
    # $(MEGASCALE_SLICE_ID) is expanded only from variables defined before it
    assert env.index("MEGASCALE_SLICE_ID") < env.index("TPU_WORKER_HOSTNAMES")
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["MEGASCALE_SLICE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['jobset.sigs.k8s.io/job-index']"
    )
    assert by_name["MEGASCALE_NUM_SLICES"]["value"] == "2"
    assert by_name["MEGASCALE_COORDINATOR_ADDRESS"]["value"] == "train-slice-0-0.train:8081"
    assert by_name["MEGASCALE_PORT"]["value"] == "8081"
    assert {"containerPort": 8081} in container["ports"]
    hostnames = by_name["TPU_WORKER_HOSTNAMES"]["value"].split(",")
    assert hostnames[0] == "train-slice-$(MEGASCALE_SLICE_ID)-0.train" and len(hostnames) == 4
    # every slice's JAX processes meet at the same coordinator: pod 0 of slice 0
    assert by_name["JAX_COORDINATOR_ADDRESS"]["value"] == "train-slice-0-0.train:8476"


def test_ironwood_names_count_tensorcores_on_four_chip_vms() -> None:
    single, multi = parse("tpu7x-8"), parse("v7x-128")
    assert (single.chips, single.hosts, single.topology) == (4, 1, "2x2x1")
    assert (multi.name, multi.chips, multi.hosts, multi.per_host) == ("tpu7x-128", 64, 16, 4)
    assert multi.node_selector == {
        "cloud.google.com/gke-tpu-accelerator": "tpu7x",
        "cloud.google.com/gke-tpu-topology": "4x4x4",
    }
    assert multi.machine_type == "tpu7x-standard-4t"
    assert (single.placement, multi.placement) == ("none", "workload-policy")
    assert parse("v6e-16").placement == "tpu-topology"


def test_bad_slices_and_queues_are_clear_errors(cli: Any) -> None:
    result = cli("render", "--accelerator", "v6e-8", "--image", IMAGE, "--slices", "2", "--", "x")
    assert result.code == 2 and "only on multi-host TPU slice node pools" in result.err
    assert "tpu-v6e-16" in result.err
    result = cli(
        "render", "--accelerator", "v6e-16", "--image", IMAGE, "--slices", "2",
        "--env", "MEGASCALE_NUM_SLICES=4", "--", "x",
    )  # fmt: skip
    assert result.code == 2 and "--slices sets the MEGASCALE_* variables" in result.err
    result = cli("render", "--accelerator", "cpu", "--image", IMAGE, "--queue", "Team_A", "--", "x")
    assert result.code == 2 and "not a Kueue LocalQueue name" in result.err


def test_bad_requests_are_clear_errors(cli: Any) -> None:
    result = cli("render", "--accelerator", "v6e-8", "--image", IMAGE, "--")
    assert result.code == 2 and "no command to run" in result.err
    result = cli(
        "render", "--accelerator", "v6e-16", "--image", IMAGE, "--env", "TPU_WORKER_ID=3", "--", "x"
    )
    assert result.code == 2 and "podlock sets it for each worker" in result.err
    result = cli(
        "render", "--accelerator", "cpu", "--image", IMAGE, "--name", "Bad_Name", "--", "x"
    )
    assert result.code == 2 and "DNS label" in result.err
    result = cli("render", "--accelerator", "tpu-v6e-7", "--image", IMAGE, "--", "x")
    assert result.code == 2 and "tpu-v6e-8" in result.err


def test_secret_looking_env_is_warned_about_and_secrets_go_by_reference(cli: Any) -> None:
    result = cli(
        "render", "--accelerator", "cpu", "--image", IMAGE, "--env", "HF_TOKEN=hf_abc",
        "--env-from-secret", "hf-credentials", "--", "python", "t.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "HF_TOKEN" in result.out  # the user asked for it; the warning says where it ends up
    assert "--env HF_TOKEN: its value is written into the manifest" in result.err
    container = yaml.safe_load(result.out)["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "hf-credentials"}}]


def test_to_yaml_separates_documents() -> None:
    docs = [{"a": 1}, {"b": 2}]
    assert list(yaml.safe_load_all(to_yaml(docs))) == docs
