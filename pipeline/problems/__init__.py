"""Problems, one module each; ``PROBLEMS`` maps the config name to the class."""
from pipeline.problems.base import CountingOracle, Problem, spectral_stats
from pipeline.problems.softmax_regression import SoftmaxRegression

PROBLEMS = {"softmax_regression": SoftmaxRegression}

__all__ = ["PROBLEMS", "CountingOracle", "Problem", "SoftmaxRegression", "spectral_stats"]
