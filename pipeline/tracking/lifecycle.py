"""Runs that outlive their process, and runs to resume: orphan reaping and restoring the files of record
of a FINISHED run of the same config and the same code version (DESIGN.md §5)."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterable, Optional

from pipeline.tracking.client import client


def _start_token(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (clock ticks after boot, /proc/PID/stat field 22), so that a
    reused pid is not taken for the process that logged a run; None if no such process. Without /proc:
    "" for a live pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass
    return ""


def process_tags() -> dict[str, str]:
    """Tags naming the process that writes a run: host, pid and the pid's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": str(pid), "pid_start": _start_token(pid) or ""}


def _orphaned(tags: dict[str, str], host: str) -> bool:
    if tags.get("host") != host or not tags.get("pid", "").isdigit():
        return False  # another host's process (a cluster node): it cannot be checked from here
    token = _start_token(int(tags["pid"]))
    return token is None or (bool(tags.get("pid_start")) and bool(token) and token != tags["pid_start"])


def reap_orphans(uri: str, experiment: str) -> list[str]:
    """Mark KILLED (tag status=killed) every run of ``experiment`` left RUNNING by a process of this
    host that no longer exists (a sweep or job killed by SIGKILL, the OOM killer or a reboot).

    Runs of live processes are left alone, so concurrent sweeps are safe; runs written from other
    hosts are left alone too, since their processes cannot be seen from here.
    """
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname()
    killed = []
    for run in c.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=50000):
        tags = run.data.tags
        if not _orphaned(tags, host):
            continue
        c.set_tag(run.info.run_id, "status", "killed")
        c.set_tag(run.info.run_id, "error", f"process {tags['pid']} on {host} ended without closing the run")
        c.set_terminated(run.info.run_id, "KILLED")
        killed.append(run.info.run_id)
    return killed


def finished_run(uri: str, experiment: str, chash: str, code: str):
    """The latest FINISHED run of ``experiment`` with tags ``config_hash = chash`` and ``code_version = code``
    (the same config run by the same code), or None."""
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id], f"tags.config_hash = '{chash}' and tags.code_version = '{code}' "
                                              "and attributes.status = 'FINISHED'",
                         max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def restore_files(uri: str, run_id: str, output_dir: Path, names: Iterable[str]) -> bool:
    """Copy a run's files of record ``names`` from its artifacts into ``output_dir``; False (and
    nothing written) when one of them is missing."""
    import shutil
    import tempfile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line per job, no bars
    c = client(uri)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
        try:
            got = [Path(c.download_artifacts(run_id, name, tmp)) for name in names]
        except Exception:  # noqa: BLE001 - any store error means: cannot restore, run the job again
            return False
        for path in got:
            shutil.move(str(path), output_dir / path.name)
    return True
