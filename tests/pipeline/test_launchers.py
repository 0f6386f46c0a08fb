"""One sweep through each of Hydra's parallel launchers (joblib, submitit_local, Ray).

Every launcher must leave the sweep's MLflow record complete (one FINISHED parent, a FINISHED child per
job) and must not change a job's results: each job's solution, loss history and summary are compared
with those of the same config run in-process by Hydra's basic launcher.

Ray runs as a single-node cluster on loopback only, started by a fixture in its own process group and
ended by SIGTERM to its head, then to its process group (never ``ray stop``, which would end every Ray
on the machine).
"""
from __future__ import annotations

import fcntl
import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import skip_unless_ci
from tests.pipeline.test_cli import assert_one_parent_and_finished_children, run_cli
from tests.pipeline.test_faults import assert_no_metric_point_lost
from tests.pipeline.tracking.test_sweep_summary import assert_sweep_summary

#: The sweep every launcher runs: 2 solvers x 3 seeds on a tiny instance.
SWEEP = ["solver=gd,newton", "seed=0,1,2", "data.n=40", "data.d=3"]
JOBS = 6

#: Launcher overrides; ``{address}`` is the Ray head's GCS address, filled in by the test.
LAUNCHERS = {
    # four workers writing one fresh SQLite store at once: no run and no metric point may be lost
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=4"],
    # The local executor ignores cpus settings and starts every job at once; the timeout ends a stuck job.
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    # The launcher sets object_store_memory unless told otherwise, which Ray refuses for an existing cluster.
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.init.address={address}",
            "+hydra.launcher.ray.init.object_store_memory=null"],
}

#: A line of the sweep's log that shows the chosen launcher really ran the jobs.
LAUNCHER_LOG = {
    "joblib": "Joblib.Parallel(n_jobs=4",
    "submitit_local": "Submitit 'local' sweep output dir",
    "ray": f"Ray Launcher is launching {JOBS} jobs",
}

#: Summary keys that measure wall-clock time or name the MLflow run: they differ from run to run.
VOLATILE_KEYS = {"wall_time_s", "time_per_iteration_s", "job_time_s", "mlflow_run_id"}
#: Inside ``solver_info`` and ``diagnostics``, keys with this ending are timings (e.g. the alternating
#: solver's ``forward_time_s``); the solvers of this sweep report none, so nothing there is dropped now.
TIMING_SUFFIX = "_time_s"

#: Environment that keeps Ray on 127.0.0.1 and quiet; both the head and the sweep's driver need it.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def sweep_cli(root: Path, sweep: Path, launcher_overrides: list[str]) -> subprocess.CompletedProcess:
    r = run_cli(["pipeline", "-m", *SWEEP, *launcher_overrides, f"hydra.sweep.dir={sweep}"], root, timeout=300)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    return r


def comparable(summary: dict) -> dict:
    """A summary without its wall-clock timings and run id."""
    out = {k: v for k, v in summary.items() if k not in VOLATILE_KEYS}
    for key in ("solver_info", "diagnostics"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if not k.endswith(TIMING_SUFFIX)}
    return out


def job_outputs(sweep: Path) -> dict[str, dict]:
    """Each job's outputs of record, keyed by config hash (job folders are numbered by launch order)."""
    import pandas as pd

    out: dict[str, dict] = {}
    for path in sorted(sweep.rglob("summary.json")):
        summary = json.loads(path.read_text())
        with np.load(path.parent / "solution.npz") as npz:
            members, x = sorted(npz.files), npz["x"]
        trace = pd.read_parquet(path.parent / "trace.parquet").drop(columns="time_s")
        assert summary["config_hash"] not in out, f"two jobs with config hash {summary['config_hash']}"
        out[summary["config_hash"]] = {"dir": path.parent, "summary": summary, "members": members, "x": x,
                                       "trace": trace}
    return out


def differences(a, b, where: str = "") -> list[str]:
    """Every leaf where two JSON values differ; floats are compared by their exact repr (bit for bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(a.keys() | b.keys(), key=str):
            at = f"{where}.{k}" if where else str(k)
            if k in a and k in b:
                out += differences(a[k], b[k], at)
            else:
                out.append(f"{at}: {a.get(k, '<absent>')!r} vs {b.get(k, '<absent>')!r}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in differences(u, v, f"{where}[{i}]")]
    same = type(a) is type(b) and (repr(a) == repr(b) if isinstance(a, float) else a == b)
    return [] if same else [f"{where}: {a!r} vs {b!r}"]


def assert_same_results(got: dict[str, dict], ref: dict[str, dict], launcher: str) -> None:
    """Every job of the sweep gives, bit for bit, what the basic launcher gave for the same config."""
    assert sorted(got) == sorted(ref), "the sweeps ran different configs"
    problems = []
    for chash, r in ref.items():
        g = got[chash]
        label = f"{launcher} {g['dir'].name} vs basic {r['dir'].name} ({chash})"
        if g["members"] != r["members"]:
            problems.append(f"{label}: solution.npz holds {g['members']}, basic {r['members']}")
        x, y = g["x"], r["x"]
        if x.dtype != y.dtype or x.shape != y.shape:
            problems.append(f"{label}: x is {x.dtype}{x.shape}, basic {y.dtype}{y.shape}")
        elif x.tobytes() != y.tobytes():
            i = int(np.flatnonzero(x.view(np.uint8) != y.view(np.uint8))[0]) // x.itemsize
            problems.append(f"{label}: x differs first at [{i}]: {x.flat[i]!r} vs {y.flat[i]!r} "
                            f"(max |diff| {np.max(np.abs(x - y)):.3g})")
        if list(g["trace"].columns) != list(r["trace"].columns) or len(g["trace"]) != len(r["trace"]):
            problems.append(f"{label}: trace has columns {list(g['trace'].columns)} x {len(g['trace'])} rows, "
                            f"basic {list(r['trace'].columns)} x {len(r['trace'])}")
        else:
            for col in r["trace"].columns:
                u, v = g["trace"][col].to_numpy(), r["trace"][col].to_numpy()
                if u.dtype != v.dtype or u.tobytes() != v.tobytes():
                    problems.append(f"{label}: trace column {col!r} differs")
        problems += [f"{label}: summary {d}" for d in differences(comparable(g["summary"]), comparable(r["summary"]))]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> dict[str, dict]:
    """The sweep run in-process, one job after another, by Hydra's basic launcher (in its own root and store).

    Under pytest-xdist the workers of a session share one such run: the first to take the lock runs it.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent / "launchers-basic"  # the session's, common to its workers
        root.mkdir(exist_ok=True)
    else:
        root = tmp_path_factory.mktemp("basic")
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            shutil.rmtree(root / "sweep", ignore_errors=True)  # what a failed attempt left
            sweep_cli(root, root / "sweep", [])
            (root / "done").touch()
    out = job_outputs(root / "sweep")
    assert len(out) == JOBS
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stray_processes(group: int, text: str | None = None) -> list[int]:
    """Ids of live processes in process group ``group`` or (if given) whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp
            if fields[0] == "Z":
                continue
            if int(fields[2]) == group or (text is not None and text.encode() in (entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def _socket_inodes(pids: list[int]) -> set[str]:
    """The inodes of the sockets these processes hold open."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            pass
    return inodes


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/{tcp,udp}[6] writes it: 32-bit words in host (little-endian) order."""
    words = [bytes.fromhex(hex_addr[i:i + 8])[::-1] for i in range(0, len(hex_addr), 8)]
    raw = b"".join(words)
    return ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)


def bound_sockets(pids: list[int]) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(table, address, port) of the TCP listeners and bound UDP sockets of these processes."""
    inodes = _socket_inodes(pids)
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (table.startswith("udp") or state == "0A"):  # 0A: LISTEN
                host, port = local.split(":")
                found.append((table, _address(host), int(port, 16)))
    return found


def beyond_loopback(sockets) -> list[str]:
    """The sockets bound to an address other than loopback (IPv4-mapped loopback counts as loopback)."""
    return [f"{table} {ip}:{port}" for table, ip, port in sockets
            if not (ip.is_loopback or (getattr(ip, "ipv4_mapped", None) or ip).is_loopback)]


@dataclass
class RayHead:
    address: str  # 127.0.0.1:PORT of the cluster's GCS
    group: int  # the process group of the head and everything it started

    def processes(self) -> list[int]:
        return _stray_processes(self.group)


@pytest.fixture
def ray_head(lab_root, monkeypatch):
    """A fresh single-node Ray cluster on loopback, with 2 CPUs.

    Its workers run the jobs, so they take their environment (the lab root for the store and the instance
    cache, one OpenMP thread) from the head. The sweep's driver gets the loopback setting via ``os.environ``.
    On teardown the head is sent SIGTERM (it drains the node and ends its own processes); whatever is left
    in its process group gets SIGTERM, then SIGKILL. A Ray process that survives fails the test.
    """
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        skip_unless_ci("ray and hydra-ray-launcher are not installed (pip install 'softmax-lab[ray]')")
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's unix socket paths must fit
    ray = str(Path(sys.executable).with_name("ray"))
    env = dict(os.environ, SOFTMAX_LAB_ROOT=str(lab_root), OMP_NUM_THREADS="1", **RAY_ENV)
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = lab_root / "ray-head.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--object-store-memory=78643200", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray did not start (exit {proc.poll()}): {log_path.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                time.sleep(0.5)
                continue
            status = subprocess.run([ray, "status", f"--address={address}"], env=env, capture_output=True,
                                    text=True, timeout=60)
            if status.returncode == 0 and "/2.0 CPU" in status.stdout:  # the node has joined
                break
            time.sleep(1)
        sockets = bound_sockets(_stray_processes(proc.pid, temp))
        assert port in {p for _, _, p in sockets}, f"the GCS port is not among Ray's sockets: {sockets}"
        assert not beyond_loopback(sockets), f"Ray listens beyond loopback: {beyond_loopback(sockets)}"
        yield RayHead(address, proc.pid)
    finally:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 10
            while _stray_processes(proc.pid, temp) and time.monotonic() < deadline:
                time.sleep(0.2)
        proc.wait(timeout=30)
        log.close()
        left = _stray_processes(proc.pid, temp)  # only Ray processes that left the group and name the temp dir
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes outlived the head's process group: {left}"


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_sweep_through_launcher_is_fully_recorded_and_matches_the_basic_launcher(launcher, lab_root, store_uri,
                                                                                  reference, request):
    head = request.getfixturevalue("ray_head") if launcher == "ray" else None
    sweep = lab_root / "sweep"
    r = sweep_cli(lab_root, sweep, [o.format(address=head and head.address) for o in LAUNCHERS[launcher]])
    if head is not None:  # the cluster, now with its workers and agents, still listens on loopback only
        outside = beyond_loopback(bound_sockets(head.processes()))
        assert not outside, f"Ray listens beyond loopback: {outside}"
    assert LAUNCHER_LOG[launcher] in r.stdout + r.stderr, (r.stdout[-2000:], r.stderr[-2000:])
    # each worker recorded its job's outcome where the sweep's process read it
    assert_sweep_summary(r.stdout, {"gd": {"jobs": 3, "converged": 3}, "newton": {"jobs": 3, "converged": 3}}, sweep)
    assert_one_parent_and_finished_children(store_uri, sweep, jobs=JOBS)
    assert_no_metric_point_lost(store_uri, sweep)
    assert_same_results(job_outputs(sweep), reference, launcher)
