"""Variance components of a mixed model, printed as lme4's ``VarCorr()``.

The result classes build a :class:`VarCorr` from the fitted covariance matrices;
this module only formats.  ``str(vc)`` reproduces ``print(VarCorr(fit))``,
``vc.format()`` the "Random effects:" block of ``summary(fit)`` and
``vc.as_dataframe()`` lme4's ``as.data.frame(VarCorr(fit))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedlm.rprint.numbers import r_format, r_round
from mixedlm.rprint.strings import make_names
from mixedlm.rprint.tables import format_char_matrix

__all__ = ["VarCorrGroup", "VarCorr"]

_COMPS = ("Variance", "Std.Dev.")


@dataclass
class VarCorrGroup:
    """Covariance of the random effects of one random-effects term.

    Attributes
    ----------
    group : str
        Name of the grouping factor (``"Subject"``, ``"cask:batch"``).  Pass the raw
        factor name; :class:`VarCorr` makes repeated names unique the way lme4 does
        (``"Subject"``, ``"Subject.1"``, ...).
    names : list of str
        Names of the random effects (``"(Intercept)"``, ``"Days"``).
    cov : numpy.ndarray
        ``(S, S)`` covariance matrix of the random effects, residual variance
        already included (lme4's ``VarCorr(fit)[[i]]``).
    """

    group: str
    names: list[str]
    cov: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        cov = np.atleast_2d(np.asarray(self.cov, dtype=float))
        if cov.shape != (len(self.names), len(self.names)):
            raise ValueError(
                f"covariance of group {self.group!r} has shape {cov.shape}, "
                f"expected ({len(self.names)}, {len(self.names)})"
            )
        self.cov = cov

    @property
    def stddev(self) -> np.ndarray:
        """Standard deviations ``sqrt(diag(cov))``."""
        return np.sqrt(np.diag(self.cov))

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix, computed in lme4's order of operations (unit diagonal)."""
        sd = self.stddev
        n = len(sd)
        corr = np.empty((n, n))
        with np.errstate(divide="ignore", invalid="ignore"):
            for a in range(n):
                for b in range(n):
                    # lme4: corr <- t(val / stddev) / stddev  (NaN for a zero variance)
                    corr[a, b] = (self.cov[b, a] / sd[b]) / sd[a]
        np.fill_diagonal(corr, 1.0)
        return corr


class VarCorr:
    """Estimated variances, standard deviations and correlations of the random effects.

    Parameters
    ----------
    groups : list of VarCorrGroup
        One entry per random-effects term, in lme4's order.
    sigma : float or None
        Residual standard deviation; ``None`` for families without a scale
        parameter (binomial, Poisson), which then get no "Residual" row.

    Attributes
    ----------
    groups : list of VarCorrGroup
    sigma : float or None
    names : list of str
        Printed group names (repeated factor names made unique as lme4 does:
        when any name repeats, ``make.names(unique = TRUE)`` is applied to all).

    Examples
    --------
    >>> import numpy as np
    >>> vc = VarCorr([VarCorrGroup("Batch", ["(Intercept)"], np.array([[1764.05]]))], 49.51)
    >>> print(vc)
     Groups   Name        Std.Dev.
     Batch    (Intercept) 42.001
     Residual             49.510
    """

    def __init__(self, groups: list[VarCorrGroup], sigma: float | None) -> None:
        self.groups = list(groups)
        self.sigma = None if sigma is None else float(sigma)
        raw = [g.group for g in self.groups]
        if len(set(raw)) < len(raw):
            self.names = make_names(raw, unique=True)
        else:
            self.names = list(raw)

    # -- printing -------------------------------------------------------------

    def _format_matrix(self, comp: Sequence[str], digits: int) -> tuple[list[list[str]], list[str]]:
        """lme4's ``formatVC()``: the character matrix and its column names."""
        if isinstance(comp, str):
            comp = (comp,)
        use: list[str] = []
        for c in comp:
            matches = [a for a in _COMPS if a.startswith(c)]
            if len(matches) != 1:
                raise ValueError(f"Illegal 'comp': {c}")
            use.append(matches[0])
        if not use:
            raise ValueError("Must *either* show variances or standard deviations")
        sds: list[float] = []
        grp_col: list[str] = []
        name_col: list[str] = []
        lens: list[int] = []
        for g, nm in zip(self.groups, self.names):
            sd = g.stddev
            lens.append(len(sd))
            for k, (v, n) in enumerate(zip(sd, g.names)):
                sds.append(float(v))
                grp_col.append(nm if k == 0 else "")
                name_col.append(n)
        if self.sigma is not None:
            sds.append(self.sigma)
            grp_col.append("Residual")
            name_col.append("")
            lens.append(1)
        nr = len(sds)
        cols: list[list[str]] = [grp_col, name_col]
        colnames = ["Groups", "Name"]
        for c in use:
            if c == "Variance":
                cols.append(r_format([s * s for s in sds], digits=digits))
            else:
                cols.append(r_format(sds, digits=digits))
            colnames.append(c)
        glens = [len(g.names) for g in self.groups]
        if any(n > 1 for n in glens):
            maxlen = max(glens)
            dig = max(2, digits - 2)
            corr_rows: list[list[str]] = []
            for g in self.groups:
                cm = g.correlation
                n = cm.shape[0]
                vals = np.asarray(r_round(cm, dig))
                strs = r_format(list(vals.T.ravel()), nsmall=dig)  # column-major, as R
                cc = [[strs[j * n + i] if i > j else "" for j in range(n)] for i in range(n)]
                for row in cc:
                    row.extend([""] * (maxlen - n))
                corr_rows.extend(row[: maxlen - 1] for row in cc)
            while len(corr_rows) < nr:
                corr_rows.append([""] * (maxlen - 1))
            for j in range(maxlen - 1):
                cols.append([corr_rows[i][j] for i in range(nr)])
                colnames.append("Corr" if j == 0 else "")
        cells = [[col[i] for col in cols] for i in range(nr)]
        return cells, colnames

    def format(self, comp: Sequence[str] | str = ("Variance", "Std.Dev."), digits: int = 4, width: int = 80) -> str:
        """The table lme4 prints, e.g. inside ``summary()``.

        Parameters
        ----------
        comp : sequence of {"Variance", "Std.Dev."}, default both
            Columns to show (abbreviations allowed, as R's ``pmatch``).
        digits : int, default 4
            Significant digits (``summary`` uses 4, ``print(VarCorr)`` 5); the
            correlations get ``max(2, digits - 2)`` decimals.
        width : int, default 80
            Line width (R's ``width`` option).

        Returns
        -------
        str
            The printed lines, each ending with a newline (lines are padded with
            trailing spaces, exactly as R pads them).
        """
        cells, colnames = self._format_matrix(comp, digits)
        return format_char_matrix(cells, [""] * len(cells), colnames, right=False, width=width)

    def __str__(self) -> str:
        return self.format(comp=("Std.Dev.",), digits=5).rstrip("\n")

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: object, cycle: bool) -> None:  # IPython
        p.text(str(self))  # type: ignore[attr-defined]

    # -- data -----------------------------------------------------------------

    def as_dataframe(self, order: str = "cov.last") -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))``.

        Parameters
        ----------
        order : {"cov.last", "lower.tri"}, default "cov.last"
            ``"cov.last"``: per group the variances, then the covariances in
            lower-triangle column order; ``"lower.tri"``: variances and
            covariances interleaved in lower-triangle order.

        Returns
        -------
        pandas.DataFrame
            Columns ``grp, var1, var2, vcov, sdcor`` (``var2`` is NaN on variance
            rows, ``var1``/``var2`` are NaN on the Residual row; ``sdcor`` holds
            standard deviations and correlations).
        """
        if order not in ("cov.last", "lower.tri"):
            raise ValueError("order must be 'cov.last' or 'lower.tri'")
        rows: list[tuple[str, object, object, float, float]] = []
        for g, nm in zip(self.groups, self.names):
            n = len(g.names)
            sd = g.stddev
            corr = g.correlation
            var_rows = [(nm, g.names[i], np.nan, float(g.cov[i, i]), float(sd[i])) for i in range(n)]
            cov_rows = []
            lt = []  # lower triangle, column-major: (row, col)
            for j in range(n):
                for i in range(j + 1, n):
                    lt.append((i, j))
            for i, j in lt:
                cov_rows.append((nm, g.names[j], g.names[i], float(g.cov[i, j]), float(corr[i, j])))
            if order == "cov.last":
                rows.extend(var_rows + cov_rows)
            else:
                # lower.tri(diag=TRUE) positions in column-major order
                for j in range(n):
                    rows.append(var_rows[j])
                    for i in range(j + 1, n):
                        rows.append(cov_rows[lt.index((i, j))])
        if self.sigma is not None:
            rows.append(("Residual", np.nan, np.nan, self.sigma**2, self.sigma))
        df = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
        df["vcov"] = df["vcov"].astype(float)
        df["sdcor"] = df["sdcor"].astype(float)
        return df

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, key: int | str) -> VarCorrGroup:
        if isinstance(key, str):
            if key in self.names:
                return self.groups[self.names.index(key)]
            raise KeyError(key)
        return self.groups[key]
