"""formula.terms.term_labels against R 4.2's ``terms()`` (term.labels and intercept).

The expected values were printed by R: ``attr(terms(~ rhs), "term.labels")``.
"""

from __future__ import annotations

import pytest

from mixedlm.formula.deparse import expand_double_verts
from mixedlm.formula.terms import term_labels

R_TERMS = [
    ("Days", ["Days"], True),
    ("1 + Days", ["Days"], True),
    ("0 + x", ["x"], False),
    ("x + f*z", ["x", "f", "z", "f:z"], True),
    ("a:b + a", ["a", "a:b"], True),
    ("(a+b)*c", ["a", "b", "c", "a:c", "b:c"], True),
    ("x - 1", ["x"], False),
    ("a*b - a:b", ["a", "b"], True),
    ("log(x) + I(x^2)", ["log(x)", "I(x^2)"], True),
    ("a:b:a", ["a:b"], True),
    ("x + y + x:y + z", ["x", "y", "z", "x:y"], True),
    ("-1 + x", ["x"], False),
    ("0 + poly(Days, 2)", ["poly(Days, 2)"], False),
    ("x*y*z", ["x", "y", "z", "x:y", "x:z", "y:z", "x:y:z"], True),
    ("(x + y):z", ["x:z", "y:z"], True),
    ("x + 0", ["x"], False),
    ("1", [], True),
    ("0", [], False),
    ("b:a + a:b", ["b:a"], True),
    ("(a + b + c)*d - b:d", ["a", "b", "c", "d", "a:d", "c:d"], True),
    ("a + b:a", ["a", "a:b"], True),
    ("x:z + z", ["z", "x:z"], True),
    ("c + (b + a):c", ["c", "c:b", "c:a"], True),
    ("z*y + y:z", ["z", "y", "z:y"], True),
]


@pytest.mark.parametrize(("rhs", "labels", "intercept"), R_TERMS, ids=[c[0] for c in R_TERMS])
def test_term_labels_equal_r(rhs, labels, intercept):
    assert term_labels(rhs) == (labels, intercept)


def test_expand_double_verts_uses_term_labels():
    """lme4's expandDoubleVerts output (R: deparse(lme4::expandDoubleVerts(f)))."""
    assert expand_double_verts("y ~ x + (x || g)") == "y ~ x + ((1 | g) + (0 + x | g))"
    assert expand_double_verts("y ~ (0 + a*b || g)") == "y ~ ((0 + a | g) + (0 + b | g) + (0 + a:b | g))"
    assert expand_double_verts("y ~ (b:a + a || g)") == "y ~ ((1 | g) + (0 + a | g) + (0 + b:a | g))"
    assert expand_double_verts("y ~ (a + b:a || g)") == "y ~ ((1 | g) + (0 + a | g) + (0 + a:b | g))"
