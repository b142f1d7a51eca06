"""statsmodels-style front ends on mixedlm's engines: ``MixedLM`` and the Bayesian mixed GLMs.

:mod:`~mixedlm.statsmodels_style.mixed_lm` (``MixedLM``, ``MixedLMResults``: statsmodels'
``MixedLM`` API over the ``lmer`` engine), :mod:`~mixedlm.statsmodels_style.bayes_mixed_glm`
(``MixedGLM``, ``BinomialBayesMixedGLM``, ``PoissonBayesMixedGLM``, ``BayesMixedGLMResults``:
statsmodels' ``BayesMixedGLM`` API over the MAP and VB engines), and the one
``summary2`` printer they share.
"""

from mixedlm.statsmodels_style.bayes_mixed_glm import (
    BayesMixedGLMResults,
    BinomialBayesMixedGLM,
    MixedGLM,
    PoissonBayesMixedGLM,
)
from mixedlm.statsmodels_style.mixed_lm import MixedLM, MixedLMResults

__all__ = [
    "MixedLM",
    "MixedLMResults",
    "MixedGLM",
    "BinomialBayesMixedGLM",
    "PoissonBayesMixedGLM",
    "BayesMixedGLMResults",
]
