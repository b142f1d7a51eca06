"""parse_formula: lme4 syntax and its error messages (text only, no data)."""

from __future__ import annotations

import pytest

from mixedlm.errors import FormulaError
from mixedlm.formula import ParsedFormula, RandomTermSpec, parse_formula


def _terms(formula: str) -> list[tuple[str, str, tuple[str, ...], bool, str]]:
    return [(t.lhs, t.group, t.group_vars, t.correlated, t.label) for t in parse_formula(formula).random]


def test_slope_term():
    p = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert isinstance(p, ParsedFormula)
    assert p.response == "Reaction"
    assert p.response_kind == "plain"
    assert p.response_parts == ("Reaction",)
    assert p.fixed == "Days"
    assert p.offsets == ()
    assert p.random == (RandomTermSpec("Days", "Subject", ("Subject",), True, "Days | Subject"),)


def test_uncorrelated_term_is_one_spec():
    assert _terms("Reaction ~ Days + (Days || Subject)") == [
        ("Days", "Subject", ("Subject",), False, "Days || Subject")
    ]


def test_nested_groups_lme4_names():
    # lme4's expandSlash: (1 | batch/cask) -> (1 | batch) + (1 | cask:batch)
    assert _terms("strength ~ 1 + (1 | batch/cask)") == [
        ("1", "batch", ("batch",), True, "1 | batch"),
        ("1", "cask:batch", ("cask", "batch"), True, "1 | cask:batch"),
    ]


def test_three_level_nesting():
    assert [t.group for t in parse_formula("y ~ (1 | a/b/c)").random] == ["a", "b:a", "c:b:a"]
    assert parse_formula("y ~ (1 | a/b/c)").random[2].group_vars == ("c", "b", "a")


def test_uncorrelated_nested():
    terms = parse_formula("y ~ x + (x || a/b)").random
    assert [(t.group, t.correlated) for t in terms] == [("a", False), ("b:a", False)]


def test_interaction_group():
    assert _terms("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)") == [
        ("1", "s", ("s",), True, "1 | s"),
        ("1", "d", ("d",), True, "1 | d"),
        ("1", "dept:service", ("dept", "service"), True, "1 | dept:service"),
    ]
    assert parse_formula("y ~ service + (1 | s) + (1 | dept:service)").fixed == "service"


def test_crossed_terms_keep_formula_order():
    p = parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)")
    assert p.fixed == "1"
    assert [t.group for t in p.random] == ["plate", "sample"]


@pytest.mark.parametrize(
    ("formula", "fixed", "lhs"),
    [
        ("y ~ 0 + x + (0 + x | g)", "0 + x", "0 + x"),
        ("y ~ x - 1 + (x - 1 | g)", "x - 1", "x - 1"),
        ("y ~ -1 + x + (-1 + x | g)", "-1 + x", "-1 + x"),
        ("y ~ x + 0 + (1 | g)", "x + 0", "1"),
        ("y ~ (1 | g)", "1", "1"),
        ("y ~ 0 + (1 | g)", "0", "1"),
        ("y ~ x + (0 + f | g)", "x", "0 + f"),
    ],
)
def test_intercept_removal_kept(formula: str, fixed: str, lhs: str):
    p = parse_formula(formula)
    assert p.fixed == fixed
    assert p.random[0].lhs == lhs


def test_offsets_removed_from_fixed_part():
    p = parse_formula("y ~ offset(np.log(t)) + x + (1 | g) + offset(z)")
    assert p.offsets == ("np.log(t)", "z")
    assert p.fixed == "x"


def test_only_offset_in_fixed_part_leaves_intercept():
    assert parse_formula("y ~ offset(o) + (1 | g)").fixed == "1"


def test_formulaic_features_pass_through():
    p = parse_formula("y ~ I(x^2) + C(f) + scale(x) + center(z) + a*b + a:b + poly(x, 2) + np.log(w) + (1 | g)")
    assert p.fixed == "I(x^2) + C(f) + scale(x) + center(z) + a*b + a:b + poly(x, 2) + np.log(w)"


def test_bar_inside_call_is_python_or():
    p = parse_formula("y ~ I(a | b) + (1 | g)")
    assert p.fixed == "I(a | b)"
    assert len(p.random) == 1


def test_r_precedence_whole_rhs_bar():
    # lme4 accepts lmer(Yield ~ 1 | Batch): the bar binds looser than +
    p = parse_formula("Yield ~ 1 | Batch")
    assert p.fixed == "1"
    assert p.random[0].lhs == "1" and p.random[0].group == "Batch"


def test_cbind_response():
    p = parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    assert p.response_kind == "cbind"
    assert p.response_parts == ("incidence", "size - incidence")
    assert p.response == "cbind(incidence, size - incidence)"


def test_ratio_response():
    p = parse_formula("incidence / size ~ period + (1 | herd)")
    assert p.response_kind == "ratio"
    assert p.response_parts == ("incidence", "size")


def test_expression_response():
    p = parse_formula("np.log(y) ~ x + (1 | g)")
    assert p.response_kind == "plain"
    assert p.response_parts == ("np.log(y)",)


def test_one_sided_formula_has_no_response():
    p = parse_formula("~ x + (1 | g)")
    assert p.response is None and p.response_parts == ()


def test_backticked_group_name():
    assert parse_formula("y ~ (1 | `my group`)").random[0].group_vars == ("my group",)


def test_parse_is_cached():
    assert parse_formula("y ~ x + (1 | g)") is parse_formula("y ~ x + (1 | g)")


def test_require_random_false_allows_fixed_only():
    p = parse_formula("y ~ x", require_random=False)
    assert p.random == () and p.fixed == "x"


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("formula", "fragments"),
    [
        ("y ~ x + (1 | g", ["unbalanced parentheses", "(1 | g"]),
        ("y ~ x + 1 | g)", ["unbalanced parentheses", "')'"]),
        ("y ~ x + [1 | g)", ["unbalanced parentheses", "'['"]),
        ("y ~ x + (1 | )", ["nothing on the right", "(1 | )"]),
        ("y ~ x + ( | g)", ["empty left side", "( | g)"]),
        ("y ~ x + (|| g)", ["empty left side", "(|| g)"]),
        ("y ~ x + (x || )", ["nothing on the right", "'||'"]),
        ("y ~ x + (1 ||| g)", ["exactly one '|' or one '||'", "(1 ||| g)"]),
        ("y ~ x + (1 | g | h)", ["exactly one '|' or one '||'", "(1 | g | h)"]),
        ("y x + (1 | g)", ["no '~'"]),
        ("y ~ x ~ z + (1 | g)", ["more than one '~'"]),
        ("y ~ ", ["nothing on the right of '~'"]),
        ("y ~ x:(1 | g)", ["must be added on its own", "x:(1 | g)"]),
        ("y ~ x - (1 | g)", ["cannot be removed", "(1 | g)"]),
        ("y ~ (1 | factor(g))", ["grouping factor", "factor(g)"]),
        ("y ~ (1 | g + h)", ["grouping factor", "g + h"]),
        ("y ~ (1 | a//b)", ["empty part", "(1 | a//b)"]),
        ("y ~ x + + (1 | g)", ["missing term"]),
        ("y ~ x - offset(z) + (1 | g)", ["offset", "offset(z)"]),
        ("cbind(s) ~ x + (1 | g)", ["cbind", "two arguments"]),
        ("y ~ x + 'abc + (1 | g)", ["unterminated quote"]),
    ],
)
def test_malformed_formula_errors_quote_the_piece(formula: str, fragments: list[str]):
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_no_random_terms_error_suggests_linear_model():
    with pytest.raises(FormulaError) as info:
        parse_formula("Reaction ~ Days")
    message = str(info.value)
    assert "no random-effects terms" in message
    assert "linear model" in message
    assert "(1 | group)" in message


def test_non_string_formula():
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(3)  # type: ignore[arg-type]


def test_formula_error_is_value_error():
    with pytest.raises(ValueError):
        parse_formula("y ~ (1 | )")
