"""Real services on loopback for tests and benchmarks: an `mlflow server` and a throwaway PostgreSQL.

Each service runs in a process group of its own, waits for readiness against a deadline (failing
with the tail of the service's log), and is stopped through its group: the stop signal first, then
SIGKILL for whatever is left after a timeout. Nothing here depends on pytest; a caller that wants to
skip when PostgreSQL is not installed asks ``postgres_bin_dir()`` first.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

MLFLOW_READY_S = 120.0   # schema creation on a fresh PostgreSQL store takes ~10-20 s on 2 cores
POSTGRES_READY_S = 60.0
STOP_S = 30.0
LOG_TAIL = 3000


class ServiceError(RuntimeError):
    """A service did not start (its message ends with the tail of the service's log)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, chars: int = LOG_TAIL) -> str:
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError as e:
        return f"(no log: {e})"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # members exist but belong to another user (only without root)
        return True
    return True


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = STOP_S) -> None:
    """Send ``sig`` to the process group led by ``proc``; SIGKILL the group if anything outlives ``timeout``."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def process_group(argv: Sequence[str], log: Path, ready: Callable[[], bool], *, name: str,
                  deadline_s: float, env: Optional[dict] = None, cwd: Optional[Path] = None,
                  stop_signal: int = signal.SIGTERM, stop_s: float = STOP_S) -> Iterator[subprocess.Popen]:
    """Run ``argv`` as the leader of a new process group with stdout and stderr to ``log``.

    Yields the process once ``ready()`` holds; raises ServiceError if the process exits first or
    ``deadline_s`` passes. The group is stopped on exit in every case.
    """
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    try:
        wait_until(ready, proc, log, name=name, deadline_s=deadline_s)
        yield proc
    finally:
        stop_group(proc, stop_signal, stop_s)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, log: Path, *, name: str, deadline_s: float,
               interval: float = 0.25, error: type[Exception] = ServiceError) -> None:
    """Poll ``ready()`` until it holds; raise ``error`` (with the log's tail) if ``proc`` exits first or
    ``deadline_s`` passes."""
    t_end = time.monotonic() + deadline_s
    while not ready():
        if proc.poll() is not None:
            raise error(f"{name} exited with status {proc.returncode} before it was ready; log {log}:\n{log_tail(log)}")
        if time.monotonic() > t_end:
            raise error(f"{name} not ready after {deadline_s:.0f} s; log {log}:\n{log_tail(log)}")
        time.sleep(interval)


# --- MLflow ------------------------------------------------------------------------------------------

def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(workdir: Path, backend_uri: str, *, deadline_s: float = MLFLOW_READY_S) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a fresh `mlflow server` on ``backend_uri``.

    Light settings: one worker, no job execution, loopback only. Artifacts are served by the server
    (``--serve-artifacts``, MLflow's default) and stored under ``workdir/artifacts``: experiments
    created without an artifact location get ``mlflow-artifacts:/...`` URIs, which clients on any
    host upload and download through the server. The log is ``workdir/mlflow-server.log``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    argv = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", backend_uri,
            "--serve-artifacts", "--artifacts-destination", str(workdir / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with process_group(argv, workdir / "mlflow-server.log", lambda: _http_ok(f"{uri}/health"),
                       name="mlflow server", deadline_s=deadline_s, env=env, cwd=workdir):
        yield uri


# --- PostgreSQL --------------------------------------------------------------------------------------

POSTGRES_TOOLS = ("initdb", "postgres", "pg_isready", "createdb")


def _version_key(path: str) -> tuple:
    part = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
    return tuple(int(x) if x.isdigit() else -1 for x in part.split("."))


def postgres_bin_dir() -> Optional[Path]:
    """The folder of a PostgreSQL server's programs (initdb on PATH first, else the newest
    /usr/lib/postgresql/*/bin), or None when no PostgreSQL server is installed."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(os.path.realpath(found)).parent)
    candidates += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                                   key=_version_key, reverse=True)]
    for d in candidates:
        if all(os.access(d / tool, os.X_OK) for tool in POSTGRES_TOOLS):
            return d
    return None


def _as_user(user: Optional[str]) -> list[str]:
    """The command prefix that runs a program as ``user`` (PostgreSQL refuses to run as root)."""
    if user is None:
        return []
    if shutil.which("setpriv"):  # execs in place: the program itself leads the process group
        return ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"]
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"]
    raise ServiceError(f"neither setpriv nor runuser found to run PostgreSQL as {user!r}")


def _pg_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


@contextlib.contextmanager
def postgres(workdir: Path, *, user: str = "lab", dbname: str = "mlflow",
             deadline_s: float = POSTGRES_READY_S) -> Iterator[str]:
    """``postgresql://USER@127.0.0.1:PORT/DBNAME`` of a throwaway PostgreSQL cluster (trust auth).

    The cluster's data and socket live in a fresh temporary folder, removed afterwards; the server
    listens on 127.0.0.1 only. Run as root, the server runs as the ``postgres`` system user, which
    owns the temporary folder. Durability is off (fsync, synchronous commit): nothing outlives the
    cluster. The logs are ``workdir/initdb.log`` and ``workdir/postgres.log``. Stopped by a fast
    shutdown (SIGINT), then SIGKILL.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ServiceError("no PostgreSQL server programs (initdb) on PATH or in /usr/lib/postgresql/*/bin")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run_as = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="lab-pg-"))
    try:
        data, sockets = base / "data", base / "socket"
        sockets.mkdir(mode=0o700)
        if run_as is not None:  # the server's user owns its folders
            pw = pwd.getpwnam(run_as)
            for d in (base, sockets):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        env = _pg_env()
        prefix = _as_user(run_as)
        with open(workdir / "initdb.log", "ab") as out:
            r = subprocess.run(prefix + [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user,
                                         "-E", "UTF8", "--locale=C", "--no-sync"],
                               stdout=out, stderr=subprocess.STDOUT, env=env, cwd=base, timeout=deadline_s)
        if r.returncode != 0:
            raise ServiceError(f"initdb failed with status {r.returncode}; log {workdir / 'initdb.log'}:\n"
                               f"{log_tail(workdir / 'initdb.log')}")
        port = free_port()
        argv = prefix + [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                         "-c", "full_page_writes=off"]

        def ready() -> bool:
            return subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
                                   "-U", user, "-d", "postgres", "-t", "2"], env=env).returncode == 0

        with process_group(argv, workdir / "postgres.log", ready, name="postgres", deadline_s=deadline_s,
                           env=env, cwd=base, stop_signal=signal.SIGINT):
            r = subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, dbname],
                               capture_output=True, text=True, env=env, timeout=deadline_s)
            if r.returncode != 0:
                raise ServiceError(f"createdb {dbname} failed: {r.stderr.strip()}; log {workdir / 'postgres.log'}:\n"
                                   f"{log_tail(workdir / 'postgres.log')}")
            yield f"postgresql://{user}@127.0.0.1:{port}/{dbname}"
    finally:
        shutil.rmtree(base, ignore_errors=True)
