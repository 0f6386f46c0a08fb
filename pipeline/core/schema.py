"""The structured config of a run itself: stop rule, reference optimum, tracking, profile, study,
diagnostics, kernels, and the top-level keys (``LabConfig``), with :func:`validate`.

Types are enforced by OmegaConf when Hydra composes the config (a non-numeric ``seed`` fails at
composition); ranges, choices and cross-field rules are declared with :func:`pipeline.core.spec.spec`
and checked by :func:`validate` before any work starts. Every error names the full config key.

The schemas of the pluggable groups live with their seams: ``problem`` in
:mod:`pipeline.problems`, ``data`` in :mod:`pipeline.data`, ``solver`` with each solver, the sizes
of the verify checks with each paper (:mod:`pipeline.papers`). Rules that need torch, the kernels or
the solvers (device, kernel backend, which data a problem takes, which problem a solver works on)
are checked by the front door's precheck (:mod:`pipeline.cli.precheck`), not here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig

from pipeline.core.errors import ConfigError
from pipeline.core.spec import spec, validate_node

#: The profiles: the sizes of the studies' grids and of the verify checks.
PROFILES = ("quick", "full", "ci")


# --------------------------------------------------------------------------- run control
@dataclass
class StopConfig:
    """When a solver stops: at relative loss gap (L - L*)/(L(x0) - L*) ≤ eps (if eps is set),
    at ‖∇L‖ ≤ gtol, at max_iter / max_time_s, on divergence, or when no new lowest loss came for
    ``patience`` iterations. Iterations to each ε of eps_grid
    are read off the trace whatever the stop."""

    eps: Optional[float] = spec(None, gt=0.0, lt=1.0)
    gtol: float = spec(1e-10, ge=0.0)
    max_iter: int = spec(100_000, ge=1)
    max_time_s: float = spec(600.0, gt=0.0)
    eps_grid: List[float] = spec([1e-2, 1e-4, 1e-6, 1e-8])
    #: divergence (status ``diverged``): a non-finite loss or gradient, L > blowup·(|L(x0)| + 1),
    #: or one step ‖x_{k+1} − x_k‖ > max_step (null: no step limit)
    blowup: float = spec(1e8, gt=1.0)
    max_step: Optional[float] = spec(1e6, gt=0.0)
    #: stalled (status ``stalled``): the lowest loss so far is ``patience`` iterations old; the
    #: run ends there instead of at max_iter (0: never)
    patience: int = spec(10_000, ge=0)

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        for i, e in enumerate(node.eps_grid):
            if not (0.0 < e < 1.0):
                raise ConfigError(f"{prefix}.eps_grid[{i}]", f"must lie in (0, 1), got {e}")


@dataclass
class ReferenceConfig:
    """Reference optimum x* (docs/theory/README.md, defaults of the checks): exact Newton until ‖∇L‖ ≤ gtol. ``method: none`` skips it
    (timing studies, where only the cost of an iteration is measured): x* and L* are then unknown."""

    method: str = spec("newton", choices=("newton", "none"))
    gtol: float = spec(1e-12, gt=0.0)
    max_iter: int = spec(200, ge=1)


@dataclass
class TrackingConfig:
    """Where runs are mirrored (pipeline/tracking): ``sqlite`` (the embedded store), ``server`` (an
    ``mlflow server`` at ``uri``) or ``off`` (files of record only)."""

    backend: str = spec("sqlite", choices=("sqlite", "server", "off"))
    uri: str = "sqlite:///${lab.root:}/mlflow.db"
    experiment: str = "softmax-lab"
    #: where a new experiment keeps its artifacts: a folder, or a URI (s3://..., file:///...); None with a
    #: tracking server: the server's own artifact store (``mlflow server --artifacts-destination``).
    artifact_root: Optional[str] = "${lab.root:}/mlartifacts"
    curve_points: int = spec(200, ge=2)

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.backend == "off":
            return
        uri = str(node.uri)
        if node.backend == "sqlite" and not uri.startswith("sqlite:////"):
            raise ConfigError(f"{prefix}.uri", f"must be an absolute sqlite URI (sqlite:////abs/path.db), got {uri!r}")
        if node.backend == "server" and not uri.startswith(("http://", "https://")):
            raise ConfigError(f"{prefix}.uri", f"must be an http(s) URI of an mlflow server, got {uri!r}")


@dataclass
class ProfileConfig:
    """A profile: its name (the studies' grids are keyed by it) and ``verify``, the sizes of the verify
    stage's checks, one field per size of every registered paper (:func:`profile_schema`)."""

    name: str = spec("quick", choices=PROFILES)
    verify: Any = None


def profile_schema(sizes: type) -> type:
    """:class:`ProfileConfig` with ``verify`` typed by ``sizes``, the dataclass of every paper's sizes."""
    return make_dataclass("ProfileConfig", [("name", str, spec("quick", choices=PROFILES)),
                                            ("verify", sizes, field(default_factory=sizes))],
                          namespace={"__doc__": ProfileConfig.__doc__})


# --------------------------------------------------------------------------- study
@dataclass
class LawConfig:
    """A predicted power law y ∝ x^slope for some solvers, with its pass band on the fitted slope."""

    solvers: List[str] = MISSING
    slope: float = MISSING
    band: List[float] = MISSING
    source: str = ""


@dataclass
class ReferenceCurve:
    """A reference curve y = coef·x^slope drawn in a study's figure (e.g. a tight bound)."""

    label: str = MISSING
    coef: float = MISSING
    slope: float = MISSING


@dataclass
class StudyConfig:
    name: str = MISSING
    paper: str = MISSING
    claims: List[str] = spec([])
    title: str = ""
    x: str = MISSING
    x_label: str = ""
    y: str = MISSING
    y_label: str = ""
    group_by: str = "solver"
    group_label: str = "{}"
    laws: List[LawConfig] = spec([])
    references: List[ReferenceCurve] = spec([])
    note: str = ""
    fit_x_min: Optional[float] = spec(None, gt=0.0)
    timing: bool = False
    derived: Dict[str, str] = spec({})  # new columns from pandas expressions over the run table
    # scaling: one point per run (x, y from the run table) with power-law fits;
    # trace: one curve per run (x = iteration or time_s, y = a column of its trace: relative_gap, grad_norm,
    # distance, or a quantity the problem monitors along the run, e.g. E05's margin_ratio),
    kind: str = spec("scaling", choices=("scaling", "trace"))
    #: the y axis of a trace study: log (gaps, gradient norms) or linear (a margin that starts negative)
    y_scale: str = spec("log", choices=("log", "linear"))
    # one panel per value of the ``panel_by`` columns of the run table (e.g. [config.data.regime]): a scaling
    # study is fitted and judged per panel and group, a trace study summarised per panel and group
    panel_by: List[str] = spec([])
    grid: Dict[str, Dict[str, str]] = spec({})

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.kind == "trace":
            if node.x not in ("iteration", "time_s"):
                raise ConfigError(f"{prefix}.x", f"a trace study plots against iteration or time_s, got {node.x!r}")
            if node.y in ("iteration", "time_s", "loss") or not str(node.y).isidentifier():
                raise ConfigError(f"{prefix}.y", "a trace study plots a column of the runs' traces: relative_gap, "
                                                 f"grad_norm, distance or one the problem monitors, got {node.y!r}")


@dataclass
class DiagnosticsConfig:
    """Constants a job measures on its instance besides solving it (pipeline/reference/diagnostics.py;
    the names are checked against its registry by the precheck)."""

    measure: List[str] = spec([])
    points: int = spec(300, ge=1)
    local_iters: int = spec(200, ge=0)


@dataclass
class KernelsConfig:
    """Which implementation computes the hot paths (kernels/backend.py): the torch references, the
    Triton kernels (CUDA, or TRITON_INTERPRET=1 on CPU) or ``auto`` (Triton on CUDA when installed);
    checked by the precheck, which resolves it for the job's device."""

    backend: str = "auto"


# --------------------------------------------------------------------------- primary
@dataclass
class LabConfig:
    problem: Any = MISSING
    data: Any = MISSING
    solver: Any = MISSING
    tracking: Any = MISSING
    profile: Any = MISSING
    study: Optional[StudyConfig] = None
    stop: StopConfig = field(default_factory=StopConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    kernels: KernelsConfig = field(default_factory=KernelsConfig)
    seed: int = spec(0, ge=0)
    dtype: str = spec("float64", choices=("float64", "float32"))
    device: str = "cpu"
    #: ``problem``: the problem's own initialisation (``problem.initial_point()``, e.g. a network's random
    #: W(0) drawn with the instance), for problems whose x0 is part of the model (E01, E05)
    x0: str = spec("sphere", choices=("zeros", "sphere", "near_reference", "problem"))
    x0_radius: float = spec(1.0, ge=0.0)
    progress: bool = True
    #: torch and BLAS threads of each job (pipeline.job.limit_threads); one per worker by default, so that
    #: parallel workers do not oversubscribe the cores and results do not depend on the launcher.
    threads: int = spec(1, ge=1)
    #: skip a job whose config hash already has a FINISHED run in the store; false reruns it.
    resume: bool = True
    claims: List[str] = spec([])
    #: worker processes of the verify stage (its checks that are not wall-clock run side by side; the
    #: wall-clock ones after them, alone); a verdict does not depend on it.
    jobs: int = spec(1, ge=1)
    results_dir: str = "${lab.root:}/results"
    reports_dir: str = "${lab.root:}/reports"

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.reference.method == "none" and node.x0 == "near_reference":
            raise ConfigError("x0", "x0=near_reference needs the reference optimum, but reference.method=none")


def validate(cfg: DictConfig) -> None:
    """Check ranges, choices and cross-field rules of a composed config; raise ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    known = {f.name for f in fields(LabConfig)} | {"hydra"}
    unknown = sorted(k for k in cfg.keys() if k not in known)
    if unknown:  # added with +key=value, which composition accepts: it would be silently ignored
        raise ConfigError(str(unknown[0]), f"unknown key; the config has {', '.join(sorted(known - {'hydra'}))}")
    try:
        validate_node(cfg, "")
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(str(key), str(exc).splitlines()[0]) from None


def store(cs) -> None:
    """Register the run's own schemas in Hydra's ConfigStore ``cs`` (the YAML files name them)."""
    cs.store(name="lab_schema", node=LabConfig)
    cs.store(group="tracking", name="tracking_schema", node=TrackingConfig)
    cs.store(group="study", name="study_schema", node=StudyConfig, package="study")
