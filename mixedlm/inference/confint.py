"""Confidence intervals for fitted mixed models.

``method="Wald"``: ``β̂ ± z_{1−α/2} SE(β̂)`` for the fixed effects; the variance
parameters get no Wald interval (NaN, as lme4).  Rows are named as lme4's
``confint(fit, oldNames = FALSE)``: ``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ``sigma``, then the fixed effects.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mixedlm.errors import MixedLMError


def variance_parameter_names(fit: Any) -> list[str]:
    """lme4's ``oldNames = FALSE`` names of the SD/correlation parameters (and ``sigma``)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for blk in fit.setup.re.blocks:
        k = seen.get(blk.group, 0)
        seen[blk.group] = k + 1
        grp = blk.group if k == 0 else f"{blk.group}.{k}"
        for c in blk.names:
            names.append(f"sd_{c}|{grp}")
        if blk.correlated:
            for j in range(len(blk.names)):
                for i in range(j + 1, len(blk.names)):
                    names.append(f"cor_{blk.names[i]}.{blk.names[j]}|{grp}")
    if fit._residual_sd is not None:
        names.append("sigma")
    return names


def confint(fit: Any, parm: Sequence[str] | str | None = None, level: float = 0.95,
            method: str = "Wald") -> pd.DataFrame:
    """Confidence intervals; see the module docstring.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    parm : str or sequence of str, optional
        Parameters to report (default all); unknown names raise an error listing the valid ones.
    level : float
        Confidence level in (0, 1).
    method : {"Wald"}
        Profile and bootstrap intervals are not available yet.
    """
    if not 0 < level < 1:
        raise MixedLMError(f"level must be between 0 and 1, not {level!r}")
    if method not in ("Wald", "wald"):
        raise MixedLMError(f"confint(method={method!r}) is not available yet; use method='Wald' "
                           "(profile and bootstrap intervals are planned)")
    fe = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    z = stats.norm.ppf(0.5 + level / 2)
    vnames = variance_parameter_names(fit)
    rows = vnames + list(fe.index)
    lo = np.concatenate([np.full(len(vnames), np.nan), fe.to_numpy() - z * se])
    hi = np.concatenate([np.full(len(vnames), np.nan), fe.to_numpy() + z * se])
    cols = [f"{100 * (1 - level) / 2:g} %", f"{100 * (1 + level) / 2:g} %"]
    out = pd.DataFrame({cols[0]: lo, cols[1]: hi}, index=rows)
    if parm is not None:
        wanted = [parm] if isinstance(parm, str) else list(parm)
        unknown = [p for p in wanted if p not in out.index]
        if unknown:
            raise MixedLMError(f"unknown parameter(s) {unknown}; valid names: {list(out.index)}")
        out = out.loc[wanted]
    return out
