"""Inference and diagnostics on fitted models (confidence intervals, convergence checks)."""

from mixedlm.inference.checkconv import ConvergenceCheck, checkConv
from mixedlm.inference.confint import confint

__all__ = ["ConvergenceCheck", "checkConv", "confint"]
