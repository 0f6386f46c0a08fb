"""Solvers, one module per method; ``SOLVERS`` maps the config ``solver.name`` to the class.

To add a solver: write a module with a ``Params`` dataclass and a class with
``run(oracle, x0, stop, observe, x_star) -> Trace``, add it here and add a YAML
file in conf/solver/. The shared battery in tests/pipeline/solvers runs it (on the problems
named in the class attribute ``problems`` when the method is specific to them).
"""
from pipeline.solvers.adam import Adam
from pipeline.solvers.alternating import Alternating
from pipeline.solvers.approx_newton import ApproxNewton
from pipeline.solvers.base import Record, Recorder, StopRule, Trace
from pipeline.solvers.framework import FrameworkSGD
from pipeline.solvers.gauss_newton import ApproxGaussNewton
from pipeline.solvers.gd import GradientDescent
from pipeline.solvers.newton import Newton
from pipeline.solvers.ng_spsa import NevergradSPSA
from pipeline.solvers.scipy_baselines import ScipyMinimize
from pipeline.solvers.torch_lbfgs import TorchLBFGS
from pipeline.solvers.zo_sgd import ZOSGD

SOLVERS = {cls.name: cls for cls in (GradientDescent, Newton, ScipyMinimize, ApproxNewton, TorchLBFGS, ZOSGD,
                                       NevergradSPSA, Adam, Alternating, ApproxGaussNewton, FrameworkSGD)}


def store_schemas(cs) -> None:
    """Register every solver's ``Params`` in Hydra's ConfigStore ``cs`` as ``solver/<name>_schema``."""
    for name, solver in SOLVERS.items():
        cs.store(group="solver", name=f"{name}_schema", node=solver.Params)


def make_solver(params):
    """Instantiate the solver that ``params.name`` names, from a Params instance or a mapping."""
    cls = SOLVERS[params["name"] if isinstance(params, dict) else params.name]
    if isinstance(params, dict):
        return cls(cls.Params(**params))
    return cls(params)


__all__ = ["SOLVERS", "make_solver", "store_schemas", "Record", "Recorder", "StopRule", "Trace"]
