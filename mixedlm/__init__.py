"""mixedlm: linear and generalized linear mixed models with lme4's formulas and numbers.

``import mixedlm as mlm``; ``mlm.lmer("Reaction ~ Days + (Days | Subject)", mlm.load_sleepstudy())``;
``mlm.glmer("incidence / size ~ period + (1 | herd)", mlm.load_cbpp(), family=mlm.families.Binomial())``.

Package map, in import order (each layer imports only the ones above it; docs/design.md
has the details and ``tests/test_architecture.py`` enforces it):

==================  ==================================================================
``errors``,         exceptions and warnings; array checks; BLAS thread limits;
``arrays``,         R's printing (numbers, strings, tables, printCoefmat)
``threads``,
``rprint/``
``formula/``        lme4 formula text: parsing, materialization through formulaic
``linalg/``         Cholesky factors and kernels, no statistics
``design/``         model frame, random-effects structure, cross-products, variance
                    components; ``datasets``
``engines/``        families and links, ℓ(η) and its derivatives, the LMM objective,
                    PIRLS, Laplace / AGQ, MAP / VB; ``families`` (public re-export)
``optim/``          optimizers, derivatives with error estimates, Newton polish
``fitting/``        the fit stages (design, objective, optimize) and controls
``results/``        fitted models and the fit interface (``results/interface.py``)
``lmer``,           the front ends
``glmer``,
``statsmodels_style/``
``inference/``      confint, profile, bootMer, simulate, anova, drop1, allFit, checkConv
``plots``           matplotlib plots (optional)
this module         the facade: the public names (nothing inside the package imports it)
==================  ==================================================================
"""

from __future__ import annotations

from mixedlm import errors, families
from mixedlm.datasets import (
    load_cbpp,
    load_dyestuff,
    load_dyestuff2,
    load_grouseticks,
    load_insteval,
    load_pastes,
    load_penicillin,
    load_sleepstudy,
)
from mixedlm.errors import DataError, FormulaError, MixedLMError
from mixedlm.fitting.control import GlmerControl, LmerControl
from mixedlm.glmer import glmer, glmer_nb
from mixedlm.inference import checkConv, confint
from mixedlm.inference.allfit import allFit
from mixedlm.inference.anova import anova
from mixedlm.inference.bootstrap import bootMer
from mixedlm.inference.drop1 import drop1
from mixedlm.inference.profile import profile
from mixedlm.inference.simulate import simulate
from mixedlm.lmer import lmer
from mixedlm.statsmodels_style.bayes_mixed_glm import (
    BinomialBayesMixedGLM,
    MixedGLM,
    PoissonBayesMixedGLM,
)
from mixedlm.statsmodels_style.mixed_lm import MixedLM

__version__ = "0.1.0.dev0"


def fixef(model):
    """Fixed effects of a fitted model (``model.fixef()``)."""
    return model.fixef()


def ranef(model, condVar: bool = True):
    """Conditional modes of the random effects (``model.ranef(condVar)``)."""
    return model.ranef(condVar=condVar)


def VarCorr(model):
    """Variance components of a fitted model (``model.VarCorr()``)."""
    return model.VarCorr()


def isSingular(model, tol: float = 1e-4) -> bool:
    """Whether the fit is singular (``model.isSingular(tol)``)."""
    return model.isSingular(tol=tol)


__all__ = [
    "MixedGLM",
    "BinomialBayesMixedGLM",
    "PoissonBayesMixedGLM",
    "MixedLM",
    "errors",
    "families",
    "DataError",
    "FormulaError",
    "MixedLMError",
    "LmerControl",
    "GlmerControl",
    "lmer",
    "glmer",
    "glmer_nb",
    "checkConv",
    "confint",
    "anova",
    "drop1",
    "allFit",
    "bootMer",
    "profile",
    "simulate",
    "fixef",
    "ranef",
    "VarCorr",
    "isSingular",
    "load_cbpp",
    "load_dyestuff",
    "load_dyestuff2",
    "load_grouseticks",
    "load_insteval",
    "load_pastes",
    "load_penicillin",
    "load_sleepstudy",
]
