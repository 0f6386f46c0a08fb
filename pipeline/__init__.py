"""softmax-lab's stages, problems, solvers and claims (DESIGN.md).

MLflow's usage telemetry is off unless the user asks for it (``MLFLOW_DISABLE_TELEMETRY=false``):
everything here runs offline, and in MLflow 3.17 the telemetry thread, failing to reach its
server, removes a variable from ``os.environ`` while a job's HTTP requests to a tracking server
read the environment, which made about 1 in 300 jobs fail on their first logging call (measured in
``benchmarks/load_sweep.py``).
"""
import os as _os

_os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
