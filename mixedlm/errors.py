"""Exception and warning types raised by mixedlm.

Every error a user can trigger with bad input derives from :class:`MixedLMError`
(itself a :class:`ValueError`), so ``except ValueError`` keeps working for callers
that do not care about the distinction.
"""

from __future__ import annotations


class MixedLMError(ValueError):
    """Base class for errors caused by the model specification or the data."""


class FormulaError(MixedLMError):
    """A formula could not be parsed or does not fit the data.

    The message names the offending piece of the formula.
    """


class DataError(MixedLMError):
    """The data cannot be used for the requested model (missing columns, NaN, types)."""


class ConvergenceWarning(UserWarning):
    """The optimizer or a convergence check reported a problem with a fit."""


class AccuracyWarning(ConvergenceWarning):
    """A reported number is less accurate than it should be (quadrature error, Hessian error)."""


class SingularFitMessage(UserWarning):
    """The fit is on the boundary of the parameter space (lme4's 'boundary (singular) fit')."""


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside the mixedlm package.

    Fits run through several layers (front end, fitting stages, results), so a fixed
    ``stacklevel`` would point into mixedlm for one caller and above the user's line for
    another; the user's own line is what a warning should show.
    """
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__))
    level = 2
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
