"""Simulating responses from a fitted mixed model (lme4's ``simulate.merMod``).

A draw conditions on the random effects of the terms named in ``re_form`` (their
conditional modes ``b̂`` enter the linear predictor) and draws *new* random effects
for every other term from the fitted distribution::

    b*_k = s · Λ_k(θ̂) u*_k,   u*_k ~ N(0, I)
    η*   = X β̂ + o + Σ_{k conditioned} Z_k b̂_k + Σ_{k not conditioned} Z_k b*_k

with ``s = σ̂`` for linear models and GLMMs with a scale parameter (the scale of
``VarCorr``), ``s = 1`` otherwise.  The response is then

* linear model:  ``y* = η* + σ̂ ε / sqrt(w)``, ``ε ~ N(0, 1)`` (``w`` the prior weights);
* GLMM: a draw from the family at ``μ* = g⁻¹(η*)`` — binomial proportions
  ``Bin(n_i, μ*_i) / n_i`` (``n_i`` = trials × prior weights), Poisson, negative
  binomial (the fitted θ), Gamma / inverse Gaussian / Gaussian with dispersion
  ``φ = σ̂²``.

Defaults follow lme4: ``re_form=None`` is lme4's default ``re.form = NA`` — condition
on nothing, every random effect is new (the parametric bootstrap's model).  The draw itself is the fit's
:meth:`~mixedlm.results.interface.MixedFit.simulate_response`.
``use_u=True`` (lme4's ``use.u = TRUE``, i.e. ``re.form = NULL``) conditions on all
of them; a formula such as ``"~(1 | Subject)"`` conditions on the terms of the
grouping factors it names.  (``predict`` reads ``re_form=None`` the other way round,
as lme4's ``predict`` does.)

Differences from lme4, deliberate: prior weights of a linear model scale the
residual variance (``σ²/w``, the model's definition; lme4 ignores them), and
Gamma / inverse-Gaussian draws use the dispersion ``φ = σ̂²`` (lme4 passes ``σ̂``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedlm.errors import MixedLMError
from mixedlm.results.interface import MixedFit


def conditioned_groups(fit: MixedFit, re_form: Any, use_u: bool) -> set[str]:
    """Grouping factors whose conditional modes are kept (the others get new random effects)."""
    all_groups = {t.group for t in fit.setup.re.terms}
    if use_u:
        if re_form is not None:
            raise MixedLMError("give only one of use_u and re_form (use_u=True is re_form with every term)")
        return all_groups
    if re_form is None:
        return set()
    groups = fit.re_form_groups(re_form)
    return all_groups if groups is None else set(groups)


def _rng(seed: Any) -> np.random.Generator:
    """A NumPy generator from None, an int, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def simulate(fit: MixedFit, nsim: int = 1, seed: Any = None, re_form: Any = None, use_u: bool = False) -> pd.DataFrame:
    """Simulate ``nsim`` responses from the fitted model (lme4's ``simulate``); see the module docstring.

    Parameters
    ----------
    fit : MixedFit
        A fitted model (:func:`mixedlm.lmer`, :func:`mixedlm.glmer`).
    nsim : int
        Number of simulated responses.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Seed of NumPy's default generator (a Generator is used as given).
    re_form : None, "~0", NaN or str
        Random-effects terms to condition on: none (None, ``"~0"``, NaN — lme4's
        default ``re.form = NA``) or those of the grouping factors in a formula such as
        ``"~(1 | Subject)"``.
    use_u : bool
        Condition on every random effect (lme4's ``use.u = TRUE``).

    Returns
    -------
    pandas.DataFrame
        One column per simulation (``sim_1``, ``sim_2``, …), one row per observation,
        indexed like the fitted values (padded with NaN under ``na_action="exclude"``).
        Binomial responses are proportions of successes (multiply by
        ``fit.setup.prior_weights`` for counts), as ``refit`` expects.
    """
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise MixedLMError(f"nsim must be a positive integer, not {nsim!r}")
    conditioned = conditioned_groups(fit, re_form, use_u)
    rng = _rng(seed)
    cols = {}
    for i in range(int(nsim)):
        cols[f"sim_{i + 1}"] = fit.pad(fit.simulate_response(rng, conditioned), f"sim_{i + 1}")
    return pd.DataFrame(cols)
