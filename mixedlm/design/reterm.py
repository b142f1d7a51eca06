"""Random-effects terms: grouping codes, per-row model rows, and the θ ↔ Λ map.

A random-effects term for grouping factor ``g`` with ``S`` columns contributes
``q = ℓ·S`` random effects (ℓ = number of levels), ordered level-major: the ``S``
effects of level 0, then those of level 1, ….  Its relative covariance factor
is ``Λ = I_ℓ ⊗ T`` with ``T`` an ``S×S`` lower-triangular *template* whose free
entries are elements of the global parameter vector θ, so that
``Var(b) = σ² Λ Λ'``.

Terms written for the same grouping factor (``(1 | g) + (0 + x | g)`` or
``(x || g)``) are *amalgamated* into one term whose template is block diagonal
(MixedModels.jl's approach): this keeps the factor's effects in one diagonal
block of the blocked Cholesky factor instead of creating a filled off-diagonal
block between two terms on the same factor.

The global θ vector is kept in lme4's order, so that ``theta`` means exactly what
``getME(fit, "theta")`` means in lme4: lme4's terms (one per bar; ``||`` gives
one scalar term per column) sorted by decreasing number of levels with lme4's
rule, each term's entries in column-major lower-triangle order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CovarianceBlock:
    """One lme4 random-effects term as lme4 reports it (a row group of ``VarCorr``).

    Attributes
    ----------
    group : str
        Grouping factor name as lme4 prints it.
    names : list of str
        Column names of the term.
    term_index : int
        Index of the amalgamated :class:`ReTerm` holding these columns.
    columns : numpy.ndarray
        Positions of these columns inside that term's ``S`` columns.
    theta_index : numpy.ndarray
        Global θ positions of this block's template entries (column-major lower triangle,
        or only the diagonal for an uncorrelated block).
    correlated : bool
        Whether off-diagonal entries are free parameters.
    """

    group: str
    names: list[str]
    term_index: int
    columns: np.ndarray
    theta_index: np.ndarray
    correlated: bool


@dataclass
class ReTerm:
    """An amalgamated random-effects term (all bars sharing one grouping factor).

    Attributes
    ----------
    group : str
        Grouping factor name.
    levels : list of str
        Level labels, ``len(levels) == nlev``.
    codes : numpy.ndarray
        ``int64`` level index of each row.
    Z : numpy.ndarray
        ``(n, S)`` per-row model rows; row ``i`` of the full ``Z`` has ``Z[i, s]`` in
        column ``codes[i] * S + s``.
    colnames : list of str
        Names of the ``S`` columns.
    tri_rows, tri_cols : numpy.ndarray
        Template positions of the free entries of ``T``.
    theta_index : numpy.ndarray
        Global θ position of each free entry.
    """

    group: str
    levels: list[str]
    codes: np.ndarray
    Z: np.ndarray
    colnames: list[str]
    tri_rows: np.ndarray
    tri_cols: np.ndarray
    theta_index: np.ndarray
    blocks: list[CovarianceBlock] = field(default_factory=list)

    @property
    def S(self) -> int:
        """Number of columns (random effects per level)."""
        return int(self.Z.shape[1])

    @property
    def nlev(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random effects, ``nlev * S``."""
        return self.nlev * self.S

    def template(self, theta: np.ndarray) -> np.ndarray:
        """Return the ``S×S`` lower-triangular template ``T(θ)``."""
        T = np.zeros((self.S, self.S))
        T[self.tri_rows, self.tri_cols] = theta[self.theta_index]
        return T

    def is_diagonal_template(self) -> bool:
        """True when ``T`` can only have diagonal entries (scalar or uncorrelated term)."""
        return bool(np.all(self.tri_rows == self.tri_cols))


@dataclass
class ReStructure:
    """All random-effects terms of a model and the θ bookkeeping.

    Attributes
    ----------
    terms : list of ReTerm
        Amalgamated terms in the order used by the factorization (decreasing
        number of random effects).
    blocks : list of CovarianceBlock
        lme4's terms in lme4's order (for ``VarCorr`` and θ names).
    theta_names : list of str
        lme4's names of the θ entries (``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, …).
    lower : numpy.ndarray
        Lower bounds: 0 for diagonal template entries, ``-inf`` elsewhere.
    """

    terms: list[ReTerm]
    blocks: list[CovarianceBlock]
    theta_names: list[str]
    lower: np.ndarray

    @property
    def n_theta(self) -> int:
        """Length of θ."""
        return len(self.theta_names)

    @property
    def q(self) -> int:
        """Total number of random effects."""
        return sum(t.q for t in self.terms)

    def offsets(self) -> np.ndarray:
        """Start of each term's random effects in the stacked vector ``u``."""
        return np.concatenate([[0], np.cumsum([t.q for t in self.terms])]).astype(np.int64)

    def default_start(self) -> np.ndarray:
        """θ start: 1 on template diagonals, 0 elsewhere (lme4's default)."""
        return np.where(np.isfinite(self.lower), 1.0, 0.0)

    def all_intercept_only(self) -> bool:
        """True when every lme4 term is a scalar ``(1 | g)`` term (lme4's moment-start rule)."""
        return all(b.names == ["(Intercept)"] for b in self.blocks)


@dataclass(frozen=True)
class TermInput:
    """What the random-effects structure needs from one bar of the formula."""

    group: str
    codes: np.ndarray
    levels: Sequence[str]
    Z: np.ndarray
    colnames: Sequence[str]
    correlated: bool


def _lme4_term_order(nlevs: Sequence[int]) -> list[int]:
    """lme4's ordering of terms: if the level counts ever increase, ``rev(order(nl))``.

    ``order`` is stable ascending, so after ``rev`` tied terms appear in reverse
    formula order — reproduced here because θ's order depends on it.
    """
    nl = list(nlevs)
    if not any(b > a for a, b in zip(nl, nl[1:])):
        return list(range(len(nl)))
    ascending = sorted(range(len(nl)), key=lambda i: nl[i])
    return ascending[::-1]


def build_re_structure(inputs: Sequence[TermInput]) -> ReStructure:
    """Build the amalgamated terms and lme4's θ layout from the formula's bars.

    Parameters
    ----------
    inputs : sequence of TermInput
        One entry per bar after ``||`` and ``/`` expansion, in formula order.

    Returns
    -------
    ReStructure
    """
    # lme4's terms: a correlated bar is one term; an uncorrelated bar is one scalar term per column.
    lme4_terms: list[tuple[int, list[int], bool]] = []  # (input index, column positions, correlated)
    for i, inp in enumerate(inputs):
        S = inp.Z.shape[1]
        if inp.correlated or S == 1:
            lme4_terms.append((i, list(range(S)), True))
        else:
            lme4_terms.extend((i, [s], True) for s in range(S))
    order = _lme4_term_order([len(inputs[i].levels) for i, _, _ in lme4_terms])

    # Amalgamate bars by grouping factor, in order of first appearance.
    group_order: list[str] = []
    by_group: dict[str, list[int]] = {}
    for i, inp in enumerate(inputs):
        if inp.group not in by_group:
            by_group[inp.group] = []
            group_order.append(inp.group)
        by_group[inp.group].append(i)

    # Column offset of each bar inside its amalgamated term.
    col_offset: dict[int, int] = {}
    for g in group_order:
        off = 0
        for i in by_group[g]:
            col_offset[i] = off
            off += inputs[i].Z.shape[1]

    # Global θ positions in lme4 order.
    theta_names: list[str] = []
    lower: list[float] = []
    entries_by_group: dict[str, list[tuple[int, int, int]]] = {g: [] for g in group_order}
    blocks_lme4: list[tuple[str, list[str], np.ndarray, np.ndarray, bool]] = []
    for k in order:
        i, cols, corr = lme4_terms[k]
        inp = inputs[i]
        base = col_offset[i]
        names = [inp.colnames[c] for c in cols]
        idx: list[int] = []
        for jj in range(len(cols)):
            for ii in range(jj, len(cols)):
                r, c = base + cols[ii], base + cols[jj]
                pos = len(theta_names)
                if ii == jj:
                    theta_names.append(f"{inp.group}.{names[ii]}")
                    lower.append(0.0)
                else:
                    theta_names.append(f"{inp.group}.{names[ii]}.{names[jj]}")
                    lower.append(-np.inf)
                entries_by_group[inp.group].append((r, c, pos))
                idx.append(pos)
        blocks_lme4.append(
            (inp.group, names, np.array([base + c for c in cols], dtype=np.int64), np.array(idx, dtype=np.int64), corr)
        )

    terms: list[ReTerm] = []
    for g in group_order:
        bars = by_group[g]
        first = inputs[bars[0]]
        for i in bars[1:]:
            if len(inputs[i].codes) != len(first.codes) or not np.array_equal(inputs[i].codes, first.codes):
                raise ValueError(f"terms for grouping factor {g!r} disagree on its codes")
        Z = np.ascontiguousarray(np.hstack([np.asarray(inputs[i].Z, dtype=np.float64) for i in bars]))
        colnames = [c for i in bars for c in inputs[i].colnames]
        ent = sorted(entries_by_group[g], key=lambda e: e[2])
        terms.append(
            ReTerm(
                group=g,
                levels=list(first.levels),
                codes=np.ascontiguousarray(first.codes, dtype=np.int64),
                Z=Z,
                colnames=colnames,
                tri_rows=np.array([e[0] for e in ent], dtype=np.int64),
                tri_cols=np.array([e[1] for e in ent], dtype=np.int64),
                theta_index=np.array([e[2] for e in ent], dtype=np.int64),
            )
        )

    # Factorization order: decreasing number of random effects, stable.
    perm = sorted(range(len(terms)), key=lambda t: -terms[t].q)
    terms = [terms[t] for t in perm]
    term_pos = {t.group: j for j, t in enumerate(terms)}

    blocks: list[CovarianceBlock] = []
    for g, names, cols, idx, corr in blocks_lme4:
        blk = CovarianceBlock(
            group=g, names=names, term_index=term_pos[g], columns=cols, theta_index=idx, correlated=corr
        )
        blocks.append(blk)
        terms[term_pos[g]].blocks.append(blk)

    return ReStructure(terms=terms, blocks=blocks, theta_names=theta_names, lower=np.array(lower, dtype=np.float64))
