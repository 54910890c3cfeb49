"""``podlock jobs list|status|code|logs|cancel``: the jobs podlock launched in a namespace."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from podlock.cli.output import add_format, emit, wants_json
from podlock.launcher.cluster import Cluster
from podlock.launcher.diagnose import explain
from podlock.launcher.job import JobHandle, JobState, queue_of, state_of
from podlock.launcher.provenance import CODE_DIGEST, code_files, summary
from podlock.reporter import Reporter


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "jobs", help="list, inspect, follow or cancel launched jobs"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="podlock's jobs in the namespace")
    add_cluster_args(ls)
    add_format(ls)
    ls.set_defaults(run=run_list)
    st = actions.add_parser("status", help="a job's state, pods, exit code; why it is Pending")
    add_cluster_args(st)
    st.add_argument("name")
    add_format(st)
    st.set_defaults(run=run_status)
    cd = actions.add_parser("code", help="the code package (files, sizes, sha256) a job ran")
    add_cluster_args(cd)
    cd.add_argument("name")
    cd.set_defaults(run=run_code)
    lg = actions.add_parser("logs", help="a job's logs (the leader's, or every pod's)")
    add_cluster_args(lg)
    lg.add_argument("name")
    lg.add_argument("-f", "--follow", action="store_true", help="until the job ends")
    lg.add_argument("--all", action="store_true", help="every pod, lines prefixed by pod")
    lg.set_defaults(run=run_logs)
    cn = actions.add_parser("cancel", help="delete a job; its pods are deleted first")
    add_cluster_args(cn)
    cn.add_argument("name")
    cn.set_defaults(run=run_cancel)


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    p.add_argument("--namespace", "-n", help="default: the context's namespace")


def connect(args: argparse.Namespace) -> Cluster:
    return Cluster.connect(
        context=args.context, kubeconfig=args.kubeconfig, namespace=args.namespace
    )


def run_list(args: argparse.Namespace, reporter: Reporter) -> int:
    cluster = connect(args)
    rows = [("NAME", "KIND", "ACCELERATOR", "STATE", "CREATED")]
    for kind, obj in cluster.jobs():
        meta = obj["metadata"]
        workload = cluster.workload(obj) if queue_of(obj) else None
        state: str = state_of(kind, obj, [], workload).phase
        if state == "Pending" and (obj.get("status") or {}).get("active"):
            state = "Active"
        rows.append(
            (
                meta["name"],
                kind,
                (meta.get("labels") or {}).get("podlock.dev/accelerator", "-"),
                state,
                str(meta.get("creationTimestamp", "-")),
            )
        )
    if wants_json(args):
        keys = ("name", "kind", "accelerator", "state", "created")
        emit({"jobs": [dict(zip(keys, r, strict=True)) for r in rows[1:]]})
        return 0
    if len(rows) == 1:
        reporter.info(f"no podlock jobs in namespace {cluster.namespace}")
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def run_status(args: argparse.Namespace, reporter: Reporter) -> int:
    cluster = connect(args)
    kind, obj = cluster.find(args.name)
    pods = cluster.pods(args.name)
    workload = cluster.workload(obj) if queue_of(obj) else None
    state = state_of(kind, obj, pods, workload)
    if wants_json(args):
        emit(_status_document(cluster, state, obj, pods))
        return 0
    print(f"{kind} {state.name}: {state.phase}")
    if state.queue:
        print(f"queue: {state.queue}")
    if state.exit_code is not None:
        print(f"exit code: {state.exit_code}")
    if state.restarts.total or state.restarts.limit:
        limit = f" (max {state.restarts.limit})" if not state.restarts.total else ""
        print(f"restarts: {state.restarts.summary()}{limit}")
    if state.phase == "Queued":
        print(f"waiting for admission: {state.message}")
    elif state.message:
        print(f"message: {state.message}")
    for what, value in summary(obj["metadata"].get("annotations") or {}):
        print(f"{what}: {value}")
    for pod in pods:
        name = pod["metadata"]["name"]
        print(f"  pod {name}: {state.pods.get(name, '?')}")
        if state.pods.get(name) == "Pending":
            for d in explain(pod, cluster.events(name)):
                print(f"    - {d.message}")
    return 0


def _status_document(
    cluster: Cluster, state: JobState, obj: Any, pods: list[Any]
) -> dict[str, Any]:
    annotations = obj["metadata"].get("annotations") or {}
    pending = []
    for pod in pods:
        name = pod["metadata"]["name"]
        why = [d.message for d in explain(pod, cluster.events(name))]
        pending.append({"name": name, "phase": state.pods.get(name, "?"), "pending": why})
    return {
        "name": state.name,
        "kind": state.kind,
        "phase": state.phase,
        "queue": state.queue,
        "exit_code": state.exit_code,
        "message": state.message,
        "restarts": {
            "total": state.restarts.total,
            "counted": state.restarts.counted,
            "limit": state.restarts.limit,
            "disruptions": list(state.restarts.reasons),
        },
        "ran": {k.replace(" ", "_"): v for k, v in summary(annotations)},
        "pods": pending,
    }


def run_code(args: argparse.Namespace, reporter: Reporter) -> int:
    cluster = connect(args)
    _kind, obj = cluster.find(args.name)
    annotations = obj["metadata"].get("annotations") or {}
    files = code_files(args.name, annotations)
    width = max((len(str(f.size)) for f in files), default=1)
    for f in files:
        mode = "x" if f.executable else "-"
        print(f"{f.size:>{width}}  {mode}  {f.sha256[:12]}  {f.path}")
    total = sum(f.size for f in files)
    print(f"total: {len(files)} files, {total} bytes; files digest {annotations.get(CODE_DIGEST)}")
    return 0


def run_logs(args: argparse.Namespace, reporter: Reporter) -> int:
    cluster = connect(args)
    kind, _obj = cluster.find(args.name)

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    JobHandle(cluster, kind, args.name).print_logs(out, all_pods=args.all, follow=args.follow)
    return 0


def run_cancel(args: argparse.Namespace, reporter: Reporter) -> int:
    cluster = connect(args)
    kind, _obj = cluster.find(args.name)
    JobHandle(cluster, kind, args.name).cancel()
    print(f"cancelled {kind} {args.name} (foreground deletion: its pods go first)")
    return 0
