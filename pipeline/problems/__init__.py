"""Problems, one module each; ``PROBLEMS`` maps the config's ``problem.name`` to the class.

A problem class holds its instance tensors (``from_arrays``), exposes the oracle of DESIGN.md §3
(``loss``, ``grad``, ``loss_grad``, ``hess``, ``hvp``, ``stats``) and names the data kinds that build
its instances (``data_kinds``). Its config schema is :class:`ProblemConfig`, or, for a problem with options
of its own (which gradient to hand out, ...), its ``Params`` dataclass (``problem/<name>_schema``); the job
then builds it with ``from_arrays(..., params=<that config>)``.
"""
from dataclasses import dataclass

from omegaconf import MISSING

from pipeline.core.spec import spec
from pipeline.problems.attention_gradient import AttentionGradient
from pipeline.problems.attention_regression import AttentionRegression
from pipeline.problems.base import CountingOracle, GaussNewtonParts, Problem
from pipeline.problems.kronecker_least_squares import KroneckerLeastSquares
from pipeline.problems.leverage_inversion import LeverageInversion
from pipeline.problems.modular_addition import ModularAddition
from pipeline.problems.softmax_network import SoftmaxNetwork
from pipeline.problems.softmax_regression import SoftmaxRegression
from pipeline.problems.two_layer_regression import TwoLayerRegression
from pipeline.problems.zo_softmax import ZOSoftmax

PROBLEMS = {cls.name: cls for cls in (SoftmaxRegression, ZOSoftmax, AttentionRegression, AttentionGradient,
                                       TwoLayerRegression, LeverageInversion, KroneckerLeastSquares,
                                       SoftmaxNetwork, ModularAddition)}


@dataclass
class ProblemConfig:
    """Which problem a run solves (``problem.name``) and the paper it belongs to."""

    name: str = spec(MISSING, choices=tuple(PROBLEMS))
    paper: str = MISSING


def store_schemas(cs) -> None:
    """Register the problem group's schema in Hydra's ConfigStore ``cs``, and ``problem/<name>_schema`` for
    each problem that declares its own options (``Params``, a dataclass with ``name`` and ``paper``)."""
    cs.store(group="problem", name="problem_schema", node=ProblemConfig)
    for name, cls in PROBLEMS.items():
        if hasattr(cls, "Params"):
            cs.store(group="problem", name=f"{name}_schema", node=cls.Params)


__all__ = ["PROBLEMS", "AttentionGradient", "AttentionRegression", "CountingOracle", "GaussNewtonParts", "KroneckerLeastSquares",
           "LeverageInversion", "ModularAddition", "Problem", "ProblemConfig", "SoftmaxNetwork", "SoftmaxRegression", "TwoLayerRegression",
           "ZOSoftmax", "store_schemas"]
