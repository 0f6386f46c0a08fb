"""Structured configs: the typed shape of every config group, and range validation.

Types are enforced by OmegaConf when Hydra composes the config (a non-numeric
``data.n`` fails at composition). Ranges, choices and cross-field rules are
declared here as field metadata and checked by :func:`validate` before any work
starts. Every error names the full config key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from pipeline.errors import ConfigError


def spec(default: Any = MISSING, *, ge=None, gt=None, le=None, lt=None, choices=None, **kw):
    """A dataclass field with a declared range or set of choices."""
    meta = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices).items() if v is not None}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


# --------------------------------------------------------------------------- data
@dataclass
class SyntheticData:
    """P1 instance generator (theory P1.6): A = U diag(s) Vᵀ, target b, PD weights w."""

    kind: str = spec("synthetic", choices=("synthetic",))
    n: int = spec(1000, ge=2)
    d: int = spec(10, ge=1)
    rank: Optional[int] = spec(None, ge=1)
    kappa: float = spec(10.0, ge=1.0)
    R: float = spec(1.0, gt=0.0)
    spectrum: str = spec("geometric", choices=("geometric", "step"))
    density: Optional[float] = spec(None, gt=0.0, le=1.0)
    heavy_fraction: float = spec(0.0, ge=0.0, lt=1.0)
    heavy_scale: float = spec(30.0, gt=0.0)
    b: str = spec("planted", choices=("planted", "simplex", "adversarial"))
    x_true_norm: float = spec(1.0, ge=0.0)
    noise: float = spec(0.0, ge=0.0, le=1.0)
    adversarial_sign: int = spec(1, choices=(1, -1))
    C_w: float = spec(0.25, ge=0.0)
    l: float = spec(1.0, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A is n×d with n ≥ d), got {node.n}")
        if node.rank is not None and node.rank > node.d:
            raise ConfigError(f"{prefix}.rank", f"must be ≤ {prefix}.d = {node.d}, got {node.rank}")
        fill = 1.0 if node.density is None else min(1.0, 2.0 * node.density)
        check_memory(f"{prefix}.n", int(8 * node.n * node.d * 4 * fill))


@dataclass
class FileData:
    """An external instance: an ``.npz`` file with arrays A (n×d), b (n) and w (n)."""

    kind: str = spec("file", choices=("file",))
    path: str = MISSING
    cache: bool = True


@dataclass
class LowRankData:
    """P2 low-rank instance (theory P2.6, E2): A = U diag(√λ) Vᵀ with ``fast`` unit modes and ``slow``
    modes at 1/kappa, N = ``rows`` rows, ambient dimension d; b = softmax(A x_true); w² = ``w2``."""

    kind: str = spec("lowrank", choices=("lowrank",))
    rows: int = spec(400, ge=2)
    d: int = spec(100, ge=1)
    fast: int = spec(8, ge=1)
    slow: int = spec(8, ge=0)
    kappa: float = spec(40.0, ge=1.0)
    w2: float = spec(20.0, gt=0.0)
    x_true_norm: float = spec(1.0, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        k = node.fast + node.slow
        if k > node.d:
            raise ConfigError(f"{prefix}.fast", f"fast + slow = {k} modes must be ≤ {prefix}.d = {node.d}")
        if k > node.rows:
            raise ConfigError(f"{prefix}.rows", f"must be ≥ fast + slow = {k}, got {node.rows}")
        check_memory(f"{prefix}.d", int(8 * node.rows * node.d * 4 + 8 * node.d * node.d * 4))


@dataclass
class FiniteSumData:
    """P2 finite-sum dataset (theory P2.6, B-sweep): m instances A_k = (G_0 + h G_k)/√N of N = ``rows``
    rows; ``centred`` regulariser ½w²‖A_k(x - x_true)‖² (interpolation, B4 holds); ``realizable:
    false`` is the control with one shared A and b_k = softmax(A(x_true + noise·ξ_k))."""

    kind: str = spec("finite_sum", choices=("finite_sum",))
    m: int = spec(100, ge=1)
    rows: int = spec(12, ge=2)
    d: int = spec(10, ge=1)
    heterogeneity: float = spec(1.0, ge=0.0)
    w2: float = spec(1.0, gt=0.0)
    centred: bool = True
    realizable: bool = True
    noise: float = spec(0.3, ge=0.0)
    x_true_norm: float = spec(1.0, ge=0.0)
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        check_memory(f"{prefix}.m", int(8 * node.m * node.rows * node.d * 3 + 8 * node.m * node.d * node.d * 3))


@dataclass
class AttentionData:
    """P3 planted instance (theory P3.6): A_i = N(0, 1)/√d (n×d), X_true and Y_true with entries
    uniform in [-x_scale, x_scale] and [-y_scale, y_scale], B = S(X_true)A3Y_true + noise·N(0, 1);
    regulariser weights w_{j0,p}² = ``w2`` and ridge ``lam_y`` (theory P3.1)."""

    kind: str = spec("attention", choices=("attention",))
    n: int = spec(16, ge=2)
    d: int = spec(3, ge=1)
    x_scale: float = spec(1.0, ge=0.0)
    y_scale: float = spec(1.0, ge=0.0)
    noise: float = spec(0.0, ge=0.0)
    w2: float = spec(1e-3, ge=0.0)
    lam_y: float = spec(1e-3, ge=0.0)
    shared_inputs: bool = False
    cache: bool = True

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.n < node.d:
            raise ConfigError(f"{prefix}.n", f"must be ≥ {prefix}.d = {node.d} (A_i are n×d of full column rank, "
                                             f"theory P3.3), got {node.n}")
        # the n×n×d² intermediates of the x-Hessian and the d²×d² Hessian itself
        check_memory(f"{prefix}.n", int(8 * (4 * node.n * node.n * node.d ** 2 + 4 * node.d ** 4)))


@dataclass
class AttentionFileData:
    """A P3 instance from an ``.npz`` file with arrays A1, A2, A3, B (n×d) and optionally w (n×n);
    without w the weights are w² = ``w2``; the ridge is ``lam_y``."""

    kind: str = spec("attention_file", choices=("attention_file",))
    path: str = MISSING
    w2: float = spec(1e-3, ge=0.0)
    lam_y: float = spec(1e-3, ge=0.0)
    cache: bool = True


# --------------------------------------------------------------------------- problem
#: The data kinds each problem accepts.
PROBLEM_DATA = {"softmax_regression": ("synthetic", "file"), "zo_softmax": ("lowrank", "finite_sum"),
                "attention_regression": ("attention", "attention_file")}
#: Data kinds read from a file (their instance key hashes the file's bytes, not a seed).
FILE_KINDS = ("file", "attention_file")


@dataclass
class ProblemConfig:
    name: str = spec("softmax_regression", choices=tuple(PROBLEM_DATA))
    paper: str = "P1"


# --------------------------------------------------------------------------- run control
@dataclass
class StopConfig:
    """When a solver stops: at relative loss gap (L - L*)/(L(x0) - L*) ≤ eps (if eps is set),
    at ‖∇L‖ ≤ gtol, at max_iter / max_time_s, or on divergence. Iterations to each ε of eps_grid
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

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        for i, e in enumerate(node.eps_grid):
            if not (0.0 < e < 1.0):
                raise ConfigError(f"{prefix}.eps_grid[{i}]", f"must lie in (0, 1), got {e}")


@dataclass
class ReferenceConfig:
    """Reference optimum x* (common.md §5): exact Newton until ‖∇L‖ ≤ gtol. ``method: none`` skips it
    (timing studies, where only the cost of an iteration is measured): x* and L* are then unknown."""

    method: str = spec("newton", choices=("newton", "none"))
    gtol: float = spec(1e-12, gt=0.0)
    max_iter: int = spec(200, ge=1)


@dataclass
class TrackingConfig:
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
class VerifyProfile:
    """Sizes of the numerical checks of the verify stage."""

    gradient_points: int = spec(20, ge=1)
    bound_ns: List[int] = spec([2, 3, 5, 10, 20])
    bound_restarts: int = spec(15, ge=1)
    pd_points: int = spec(1000, ge=1)
    pd_Rs: List[float] = spec([1.0, 2.0, 4.0])
    lipschitz_points: int = spec(4000, ge=1)
    lipschitz_Rs: List[float] = spec([0.5, 1.0, 2.0, 3.0, 4.0])
    lipschitz_ns: List[int] = spec([20, 200, 2000])
    sparsifier_n: int = spec(50_000, ge=100)
    sparsifier_trials: int = spec(20, ge=1)
    newton_n: int = spec(4000, ge=100)
    newton_seeds: int = spec(100, ge=1)
    cost_ns: List[int] = spec([10_000, 100_000])
    cost_densities: List[float] = spec([1e-3, 1e-2, 1e-1])
    cost_d: int = spec(20, ge=1)
    cost_repeats: int = spec(5, ge=1)
    # P2 checks C2.1–C2.6 (pipeline/claims/p2.py); full = the sizes of theory P2.6
    zo_bias_draws: int = spec(100_000, ge=100)          # C2.1: SPSA draws per ε
    zo_moment_draws: int = spec(400_000, ge=100)        # C2.2/C2.3: draws of ĝ_n at n = 1 (draws/n at n)
    zo_decrease_points: int = spec(20, ge=1)            # C2.4: points on the ZO trajectory
    zo_decrease_draws: int = spec(100_000, ge=100)      # C2.4: (z, 𝓑) draws per point and kind of z
    zo_ball_points: int = spec(200, ge=1)               # C2.4: points of the ball for the local ℓ
    zo_constant_points: int = spec(1000, ge=1)          # C2.5: points per radius
    zo_constant_Rs: List[float] = spec([1.0, 2.0, 4.0])  # C2.5: radii of the balls
    zo_noise_points: int = spec(500, ge=2)              # C2.6: points near x*
    # P3 checks C3.1–C3.11 (pipeline/claims/p3*.py); full = the sizes of theory P3.6
    p3_points: int = spec(5, ge=1)                      # C3.1–C3.4, C3.8: random (X, Y) per size
    p3_bound_restarts: int = spec(20, ge=1)             # C3.5: restarts of the maximisation over f
    p3_pd_points: int = spec(500, ge=1)                 # C3.6: random (X, Y) in the R-ball
    p3_lipschitz_points: int = spec(2000, ge=1)         # C3.7: samples per (n, R)
    p3_lipschitz_ns: List[int] = spec([8, 16, 32])
    p3_lipschitz_Rs: List[float] = spec([0.5, 1.0, 2.0])
    p3_newton_starts: int = spec(10, ge=1)              # C3.9: random starts per radius ρ
    p3_outer_iters: int = spec(60, ge=1)                # C3.10: alternating iterations per start
    p3_cost_ns: List[int] = spec([64, 128, 256, 512, 1024])  # C3.11: n at d = 8
    p3_cost_ds: List[int] = spec([4, 6, 8, 12, 16])     # C3.11: d of the d²×d² solve
    p3_cost_repeats: int = spec(5, ge=1)


@dataclass
class ProfileConfig:
    name: str = spec("quick", choices=("quick", "full", "ci"))
    verify: VerifyProfile = field(default_factory=VerifyProfile)


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
    # trace: one curve per run (x = iteration or time_s, y = relative_gap or grad_norm from its trace),
    # one panel per value of ``panel_by`` (a run-table column), summarised per panel and group
    kind: str = spec("scaling", choices=("scaling", "trace"))
    panel_by: Optional[str] = None
    grid: Dict[str, Dict[str, str]] = spec({})

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.kind == "trace":
            if node.x not in ("iteration", "time_s"):
                raise ConfigError(f"{prefix}.x", f"a trace study plots against iteration or time_s, got {node.x!r}")
            if node.y not in ("relative_gap", "grad_norm", "distance"):
                raise ConfigError(f"{prefix}.y", f"a trace study plots relative_gap, grad_norm or distance, got {node.y!r}")


@dataclass
class DiagnosticsConfig:
    """Constants a job measures on its instance besides solving it (pipeline/diagnostics.py)."""

    measure: List[str] = spec([], choices=("hessian_lipschitz",))
    points: int = spec(300, ge=1)
    local_iters: int = spec(200, ge=0)


@dataclass
class KernelsConfig:
    """Which implementation computes the hot paths (kernels/backend.py): the torch references, the
    Triton kernels (CUDA, or TRITON_INTERPRET=1 on CPU) or ``auto`` (Triton on CUDA when installed)."""

    backend: str = spec("auto", choices=("auto", "torch", "triton"))


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
    x0: str = spec("sphere", choices=("zeros", "sphere", "near_reference"))
    x0_radius: float = spec(1.0, ge=0.0)
    progress: bool = True
    #: torch and BLAS threads of each job (pipeline.job.limit_threads); one per worker by default, so that
    #: parallel workers do not oversubscribe the cores and results do not depend on the launcher.
    threads: int = spec(1, ge=1)
    #: skip a job whose config hash already has a FINISHED run in the store; false reruns it.
    resume: bool = True
    claims: List[str] = spec([])
    results_dir: str = "${lab.root:}/results"
    reports_dir: str = "${lab.root:}/reports"

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        import torch

        try:
            dev = torch.device(node.device)
        except RuntimeError as exc:
            raise ConfigError("device", f"not a torch device: {node.device!r} ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")
        from kernels.backend import resolve

        try:
            resolve(node.kernels.backend, dev)
        except ValueError as exc:
            raise ConfigError("kernels.backend", str(exc)) from None
        kinds = PROBLEM_DATA.get(node.problem.name, ())
        if node.data.kind not in kinds:
            raise ConfigError("data", f"problem {node.problem.name} takes data {' or '.join(kinds)}, got "
                                      f"data={node.data.kind} (choose e.g. data={kinds[0]})")
        if node.reference.method == "none" and node.x0 == "near_reference":
            raise ConfigError("x0", "x0=near_reference needs the reference optimum, but reference.method=none")
        from pipeline.solvers import SOLVERS

        solver = SOLVERS.get(node.solver.name)
        needs = getattr(solver, "problems", None)
        if needs is not None and node.problem.name not in needs:
            raise ConfigError("solver", f"solver {node.solver.name} works on problem {' or '.join(needs)} only, got "
                                        f"problem={node.problem.name}")


def check_memory(key: str, nbytes: int, fraction: float = 0.5) -> None:
    """Refuse sizes whose memory estimate exceeds a fraction of the machine's memory."""
    try:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > fraction * total:
        raise ConfigError(key, f"needs about {nbytes / 2**30:.1f} GiB, more than {fraction:.0%} of this machine's {total / 2**30:.1f} GiB")


# --------------------------------------------------------------------------- validation
def _check_value(key: str, value: Any, meta: dict) -> None:
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, f"must be one of {list(meta['choices'])}, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"must be finite, got {value}")
        for op, bad, word in (("ge", lambda v, b: v < b, "≥"), ("gt", lambda v, b: v <= b, ">"),
                              ("le", lambda v, b: v > b, "≤"), ("lt", lambda v, b: v >= b, "<")):
            if op in meta and bad(value, meta[op]):
                raise ConfigError(key, f"must be {word} {meta[op]}, got {value}")


def _validate_node(node: Any, prefix: str) -> None:
    if not isinstance(node, DictConfig):
        return
    typ = OmegaConf.get_type(node)
    if typ is not None and is_dataclass(typ):
        for f in fields(typ):
            key = f"{prefix}.{f.name}" if prefix else f.name
            if OmegaConf.is_missing(node, f.name):
                raise ConfigError(key, "is required but was not given")
            value = node[f.name]
            if isinstance(value, ListConfig):
                for i, item in enumerate(value):
                    _check_value(f"{key}[{i}]", item, f.metadata)
                    _validate_node(item, f"{key}[{i}]")
            elif isinstance(value, DictConfig):
                _validate_node(value, key)
            else:
                _check_value(key, value, f.metadata)
        check = getattr(typ, "check", None)
        if check is not None:
            check(node, prefix)
    else:
        for k in node.keys():
            _validate_node(node[k], f"{prefix}.{k}" if prefix else str(k))


def validate(cfg: DictConfig) -> None:
    """Check ranges, choices and cross-field rules of a composed config; raise ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    known = {f.name for f in fields(LabConfig)} | {"hydra"}
    unknown = sorted(k for k in cfg.keys() if k not in known)
    if unknown:  # added with +key=value, which composition accepts: it would be silently ignored
        raise ConfigError(str(unknown[0]), f"unknown key; the config has {', '.join(sorted(known - {'hydra'}))}")
    try:
        _validate_node(cfg, "")
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(str(key), str(exc).splitlines()[0]) from None


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (used by the YAML files' defaults lists)."""
    from pipeline.solvers import SOLVERS

    cs = ConfigStore.instance()
    cs.store(name="lab_schema", node=LabConfig)
    cs.store(group="data", name="synthetic_schema", node=SyntheticData)
    cs.store(group="data", name="file_schema", node=FileData)
    cs.store(group="data", name="lowrank_schema", node=LowRankData)
    cs.store(group="data", name="finite_sum_schema", node=FiniteSumData)
    cs.store(group="data", name="attention_schema", node=AttentionData)
    cs.store(group="data", name="attention_file_schema", node=AttentionFileData)
    cs.store(group="problem", name="problem_schema", node=ProblemConfig)
    cs.store(group="tracking", name="tracking_schema", node=TrackingConfig)
    cs.store(group="profile", name="profile_schema", node=ProfileConfig)
    cs.store(group="study", name="study_schema", node=StudyConfig, package="study")
    for name, solver in SOLVERS.items():
        cs.store(group="solver", name=f"{name}_schema", node=solver.Params)
