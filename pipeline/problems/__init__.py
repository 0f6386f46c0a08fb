"""Problems, one module each; ``PROBLEMS`` maps the config name to the class."""
from pipeline.problems.attention_regression import AttentionRegression
from pipeline.problems.base import CountingOracle, Problem, spectral_stats
from pipeline.problems.softmax_regression import SoftmaxRegression
from pipeline.problems.zo_softmax import ZOSoftmax

PROBLEMS = {"softmax_regression": SoftmaxRegression, "zo_softmax": ZOSoftmax,
            "attention_regression": AttentionRegression}

__all__ = ["PROBLEMS", "AttentionRegression", "CountingOracle", "Problem", "SoftmaxRegression", "ZOSoftmax", "spectral_stats"]
