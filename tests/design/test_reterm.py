"""build_re_structure: Z, Λ(θ), θ order/names/bounds against lme4's mkReTrms.

The independent reference is lme4's construction written out densely here: one term
per bar (``||`` already split into scalar terms), terms reordered with
``if (any(diff(nl) > 0)) rev(order(nl))``, each term's θ entries filling its
``S×S`` lower-triangular template column by column, ``Z_k`` level-major and
``Λ_k = I_ℓ ⊗ T_k``.  mixedlm amalgamates bars on one factor and reorders terms for
the factorization, so the comparison is on what must not change: the marginal
covariance ``Z Λ Λᵀ Zᵀ`` for a random θ, and θ's names and bounds.

θ names and orders are lme4's (reference/lme4/L01, L03, L06, L07, L08 ``theta`` and
``ngrps``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data import load

from mixedlm.design.frame import build_model_frame
from mixedlm.design.reterm import ReStructure, TermInput, build_re_structure

# ------------------------------------------------------------------ helpers


def _bar(group: str, codes, Z, colnames, correlated: bool = True, nlev: int | None = None) -> TermInput:
    codes = np.asarray(codes, dtype=np.int64)
    nlev = int(codes.max()) + 1 if nlev is None else nlev
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim == 1:
        Z = Z[:, None]
    return TermInput(
        group=group,
        codes=codes,
        levels=[f"{group}{k}" for k in range(nlev)],
        Z=Z,
        colnames=list(colnames),
        correlated=correlated,
    )


def _dense_term_Z(codes: np.ndarray, Z: np.ndarray, nlev: int) -> np.ndarray:
    """Level-major dense Z of one term: column ``l*S + s`` holds ``Z[:, s]`` on rows of level l."""
    n, S = Z.shape
    out = np.zeros((n, nlev * S))
    for i in range(n):
        for s in range(S):
            out[i, codes[i] * S + s] = Z[i, s]
    return out


def _lme4_marginal_cov(inputs: list[TermInput], theta: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``Z Λ Λᵀ Zᵀ`` and θ names built the way lme4's mkReTrms does, bar by bar."""
    terms = []  # (group, codes, Zcols, names, nlev)
    for b in inputs:
        if b.correlated or b.Z.shape[1] == 1:
            terms.append((b.group, b.codes, b.Z, list(b.colnames), len(b.levels)))
        else:
            for s in range(b.Z.shape[1]):
                terms.append((b.group, b.codes, b.Z[:, [s]], [b.colnames[s]], len(b.levels)))
    nl = np.array([t[4] for t in terms])
    if np.any(np.diff(nl) > 0):
        terms = [terms[k] for k in np.argsort(nl, kind="stable")[::-1]]
    n = len(inputs[0].codes)
    V = np.zeros((n, n))
    names: list[str] = []
    pos = 0
    for group, codes, Zc, cn, nlev in terms:
        S = Zc.shape[1]
        T = np.zeros((S, S))
        for j in range(S):  # column-major lower triangle
            for i in range(j, S):
                T[i, j] = theta[pos]
                pos += 1
                names.append(f"{group}.{cn[i]}" if i == j else f"{group}.{cn[i]}.{cn[j]}")
        Zk = _dense_term_Z(codes, Zc, nlev)
        Lk = np.kron(np.eye(nlev), T)
        V += Zk @ Lk @ Lk.T @ Zk.T
    assert pos == len(theta)
    return V, names


def _mixedlm_marginal_cov(re: ReStructure, theta: np.ndarray) -> np.ndarray:
    Zs, Ls = [], []
    for t in re.terms:
        Zs.append(_dense_term_Z(t.codes, t.Z, t.nlev))
        Ls.append(np.kron(np.eye(t.nlev), t.template(theta)))
    Z = np.hstack(Zs)
    L = np.zeros((re.q, re.q))
    for off, Lk in zip(re.offsets()[:-1], Ls):
        L[off : off + Lk.shape[0], off : off + Lk.shape[0]] = Lk
    return Z @ L @ L.T @ Z.T


def _inputs_from_frame(formula: str, data: pd.DataFrame) -> list[TermInput]:
    mf = build_model_frame(formula, data)
    return [
        TermInput(group=b.group, codes=b.codes, levels=b.levels, Z=b.Z, colnames=b.colnames, correlated=b.correlated)
        for b in mf.re_blocks
    ]


@pytest.fixture
def small() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    n = 30
    return {
        "g": rng.permutation(np.arange(n) % 4),  # 4 levels
        "h": rng.permutation(np.arange(n) % 6),  # 6 levels
        "k": rng.permutation(np.arange(n) % 3),  # 3 levels
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "n": n,
    }


# ------------------------------------------------------------------ Z and the template


def test_single_vector_term_layout():
    codes = np.array([1, 0, 1, 2, 0])
    x = np.array([0.5, -1.0, 2.0, 3.0, 4.0])
    Z = np.column_stack([np.ones(5), x])
    re = build_re_structure([_bar("g", codes, Z, ["(Intercept)", "x"])])
    (t,) = re.terms
    assert (t.S, t.nlev, t.q, re.q, re.n_theta) == (2, 3, 6, 6, 3)
    assert t.codes.dtype == np.int64 and t.Z.dtype == np.float64 and t.Z.flags.c_contiguous
    expected = np.array(
        [
            [0, 0, 1, 0.5, 0, 0],
            [1, -1.0, 0, 0, 0, 0],
            [0, 0, 1, 2.0, 0, 0],
            [0, 0, 0, 0, 1, 3.0],
            [1, 4.0, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(_dense_term_Z(t.codes, t.Z, t.nlev), expected)
    # θ = (T11, T21, T22) column-major lower triangle, as getME(, "theta")
    np.testing.assert_array_equal(t.template(np.array([2.0, -0.5, 3.0])), [[2.0, 0.0], [-0.5, 3.0]])
    assert not t.is_diagonal_template()
    assert re.theta_names == ["g.(Intercept)", "g.x.(Intercept)", "g.x"]
    np.testing.assert_array_equal(re.lower, [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(re.default_start(), [1.0, 0.0, 1.0])
    assert not re.all_intercept_only()


def test_three_column_template_order():
    rng = np.random.default_rng(5)
    Z = np.column_stack([np.ones(8), rng.normal(size=8), rng.normal(size=8)])
    re = build_re_structure([_bar("g", np.arange(8) % 2, Z, ["(Intercept)", "a", "b"])])
    theta = np.arange(1.0, 7.0)
    T = re.terms[0].template(theta)
    np.testing.assert_array_equal(T, [[1, 0, 0], [2, 4, 0], [3, 5, 6]])
    assert re.theta_names == ["g.(Intercept)", "g.a.(Intercept)", "g.b.(Intercept)", "g.a", "g.b.a", "g.b"]
    np.testing.assert_array_equal(np.isfinite(re.lower), [True, False, False, True, False, True])


@pytest.mark.parametrize(
    "spec",
    [
        # (group, columns, correlated) per bar
        [("g", ("1", "x"), True)],
        [("g", ("1", "x"), False)],
        [("g", ("1",), True), ("g", ("x", "z"), True)],  # amalgamated, block-diagonal
        [("g", ("1",), True), ("h", ("1", "x"), True)],  # crossed, increasing levels
        [("h", ("1", "z"), True), ("g", ("1",), True), ("k", ("x",), True)],  # decreasing
        [("k", ("1",), True), ("h", ("x", "z"), False), ("g", ("1", "x"), True), ("k", ("z",), True)],
        [("g", ("1", "x", "z"), True), ("h", ("1",), True), ("g", ("1",), True)],
    ],
)
def test_marginal_covariance_matches_lme4_construction(small, spec):
    rng = np.random.default_rng(len(spec))
    cols = {"1": np.ones(small["n"]), "x": small["x"], "z": small["z"]}
    inputs = [
        _bar(g, small[g], np.column_stack([cols[c] for c in cc]), ["(Intercept)" if c == "1" else c for c in cc], corr)
        for g, cc, corr in spec
    ]
    re = build_re_structure(inputs)
    theta = rng.uniform(0.3, 2.0, size=re.n_theta) * np.where(
        np.isfinite(re.lower), 1.0, rng.choice([-1.0, 1.0], re.n_theta)
    )
    V_ref, names_ref = _lme4_marginal_cov(inputs, theta)
    assert re.theta_names == names_ref
    np.testing.assert_array_equal(np.isfinite(re.lower), [n.count(".") == 1 for n in names_ref])
    np.testing.assert_allclose(_mixedlm_marginal_cov(re, theta), V_ref, rtol=1e-12, atol=1e-12)
    # one amalgamated term per grouping factor, in decreasing number of random effects
    assert sorted(t.group for t in re.terms) == sorted({g for g, _, _ in spec})
    qs = [t.q for t in re.terms]
    assert qs == sorted(qs, reverse=True)
    np.testing.assert_array_equal(re.offsets(), np.concatenate([[0], np.cumsum(qs)]))
    # every θ entry is used exactly once across the templates
    used = np.sort(np.concatenate([t.theta_index for t in re.terms]))
    np.testing.assert_array_equal(used, np.arange(re.n_theta))
    np.testing.assert_array_equal(np.sort(np.concatenate([b.theta_index for b in re.blocks])), np.arange(re.n_theta))


def test_amalgamated_bars_share_one_block_diagonal_term(small):
    n = small["n"]
    inputs = [
        _bar("g", small["g"], np.ones(n), ["(Intercept)"]),
        _bar("g", small["g"], np.column_stack([small["x"], small["z"]]), ["x", "z"]),
    ]
    re = build_re_structure(inputs)
    (t,) = re.terms
    assert t.S == 3 and t.colnames == ["(Intercept)", "x", "z"]
    T = t.template(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(T, [[1, 0, 0], [0, 2, 0], [0, 3, 4]])
    assert [b.names for b in re.blocks] == [["(Intercept)"], ["x", "z"]]
    assert [b.columns.tolist() for b in re.blocks] == [[0], [1, 2]]
    assert all(b.term_index == 0 for b in re.blocks) and t.blocks == re.blocks


def test_uncorrelated_bar_is_diagonal(small):
    n = small["n"]
    Z = np.column_stack([np.ones(n), small["x"]])
    re = build_re_structure([_bar("g", small["g"], Z, ["(Intercept)", "x"], correlated=False)])
    (t,) = re.terms
    assert t.is_diagonal_template()
    assert re.theta_names == ["g.(Intercept)", "g.x"]
    np.testing.assert_array_equal(re.lower, [0.0, 0.0])
    assert [b.names for b in re.blocks] == [["(Intercept)"], ["x"]]


def test_factorization_order_and_block_term_index(small):
    n = small["n"]
    inputs = [
        _bar("k", small["k"], np.ones(n), ["(Intercept)"]),  # q = 3
        _bar("g", small["g"], np.column_stack([np.ones(n), small["x"]]), ["(Intercept)", "x"]),  # q = 8
        _bar("h", small["h"], np.ones(n), ["(Intercept)"]),  # q = 6
    ]
    re = build_re_structure(inputs)
    assert [t.group for t in re.terms] == ["g", "h", "k"]
    # lme4 order: nl = (3, 4, 6) increases -> rev(order(nl)) = h, g, k
    assert [b.group for b in re.blocks] == ["h", "g", "k"]
    assert re.theta_names == ["h.(Intercept)", "g.(Intercept)", "g.x.(Intercept)", "g.x", "k.(Intercept)"]
    for b in re.blocks:
        assert re.terms[b.term_index].group == b.group
    assert re.terms[0].theta_index.tolist() == [1, 2, 3]
    assert re.all_intercept_only() is False


# ------------------------------------------------------------------ lme4's term order


def _scalar_bars(nlevs: list[int], groups: list[str]) -> list[TermInput]:
    n = max(nlevs)
    return [_bar(g, np.arange(n) % nl, np.ones(n), ["(Intercept)"], nlev=nl) for g, nl in zip(groups, nlevs)]


@pytest.mark.parametrize(
    "nlevs, expected",
    [
        ([5, 5, 3], ["a", "b", "c"]),  # never increasing: formula order kept
        ([3, 5, 5], ["c", "b", "a"]),  # rev(order()) puts ties in reverse formula order
        ([5, 3, 5], ["c", "a", "b"]),
        ([2, 2, 2], ["a", "b", "c"]),
        ([2, 7, 4], ["b", "c", "a"]),
    ],
)
def test_lme4_term_order(nlevs, expected):
    re = build_re_structure(_scalar_bars(nlevs, ["a", "b", "c"]))
    assert [b.group for b in re.blocks] == expected
    assert re.theta_names == [f"{g}.(Intercept)" for g in expected]
    assert re.all_intercept_only()


def test_insteval_like_order_matches_lme4():
    # reference/lme4/L08_insteval_crossed: (1 | s) + (1 | d) + (1 | dept:service), ngrps 2972, 1128, 28
    re = build_re_structure(_scalar_bars([2972, 1128, 28], ["s", "d", "dept:service"]))
    assert re.theta_names == ["s.(Intercept)", "d.(Intercept)", "dept:service.(Intercept)"]
    assert [t.nlev for t in re.terms] == [2972, 1128, 28]


# ------------------------------------------------------------------ reference datasets (lme4 names)


@pytest.mark.parametrize(
    "dataset, formula, theta_names, ngrps",
    [
        (
            "sleepstudy",
            "Reaction ~ Days + (Days | Subject)",
            ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"],
            {"Subject": 18},
        ),
        ("sleepstudy", "Reaction ~ Days + (Days || Subject)", ["Subject.(Intercept)", "Subject.Days"], {"Subject": 18}),
        (
            "penicillin",
            "diameter ~ 1 + (1 | plate) + (1 | sample)",
            ["plate.(Intercept)", "sample.(Intercept)"],
            {"plate": 24, "sample": 6},
        ),
        (
            "pastes",
            "strength ~ 1 + (1 | batch/cask)",
            ["cask:batch.(Intercept)", "batch.(Intercept)"],
            {"cask:batch": 30, "batch": 10},
        ),
    ],
)
def test_reference_theta_names(dataset, formula, theta_names, ngrps):
    data = load(dataset)
    inputs = _inputs_from_frame(formula, data)
    re = build_re_structure(inputs)
    assert re.theta_names == theta_names
    assert {t.group: t.nlev for t in re.terms} == ngrps
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.2, 1.5, re.n_theta)
    V_ref, names_ref = _lme4_marginal_cov(inputs, theta)
    assert names_ref == theta_names
    np.testing.assert_allclose(_mixedlm_marginal_cov(re, theta), V_ref, rtol=1e-12, atol=1e-10)


def test_sleepstudy_Z_from_data():
    sleep = load("sleepstudy")
    re = build_re_structure(_inputs_from_frame("Reaction ~ Days + (Days | Subject)", sleep))
    (t,) = re.terms
    Zfull = _dense_term_Z(t.codes, t.Z, t.nlev)
    labels = sleep["Subject"].astype(str).to_numpy()
    days = sleep["Days"].to_numpy(float)
    for lev_index, lev in enumerate(t.levels):
        rows = labels == lev
        np.testing.assert_array_equal(Zfull[:, 2 * lev_index], rows.astype(float))
        np.testing.assert_array_equal(Zfull[:, 2 * lev_index + 1], np.where(rows, days, 0.0))


# ------------------------------------------------------------------ bad input


def test_same_group_with_different_codes_rejected():
    a = _bar("g", [0, 1, 0, 1], np.ones(4), ["(Intercept)"])
    b = _bar("g", [1, 1, 0, 0], np.arange(4.0), ["x"])
    with pytest.raises(ValueError, match="'g'.*codes"):
        build_re_structure([a, b])
