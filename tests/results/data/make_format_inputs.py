"""Random inputs for the R-formatting golden test (run once; R then adds its outputs).

python tests/results/data/make_format_inputs.py      # writes format_inputs.json
Rscript tests/results/data/make_format_golden.R      # writes r_format_golden.json
"""

from __future__ import annotations

import json
from math import erfc, sqrt
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(20240601)
    fmt = []
    for k in range(1000):
        n = int(rng.integers(1, 6))
        kind = k % 6
        if kind == 0:
            x = rng.normal(size=n) * 10.0 ** rng.integers(-8, 9)
        elif kind == 1:
            x = np.round(rng.normal(size=n) * 1000, int(rng.integers(0, 6)))
        elif kind == 2:
            x = rng.integers(-99999, 99999, size=n) / 10.0 ** rng.integers(0, 7)
        elif kind == 3:  # decimal ties
            x = (rng.integers(0, 20, size=n) + 0.5) / 10.0 ** rng.integers(0, 4)
        elif kind == 4:
            x = 10.0 ** rng.uniform(-20, 20, size=n) * rng.choice([-1, 1], size=n)
        else:  # values where rounding widens the field
            x = np.array([9.9995, 0.99995, 99.995, 999.5, 9996, 0.0001, 123456789, 1e5, 1e15, 0.1 + 0.2][:n])
            x = x * rng.choice([1, -1])
        fmt.append(
            {
                "x": [float(v) for v in x],
                "digits": int(rng.integers(1, 16)),
                "nsmall": int(rng.integers(0, 4)) if k % 7 == 0 else 0,
                "rd": float(rng.integers(-2, 8)),
            }
        )
    words = [
        "(Intercept)",
        "Days",
        "period2",
        "poly(Days, 3)1",
        "I(Days^2)",
        "lectage.L",
        "lectage^4",
        "service1",
        "YEAR96",
        "cHEIGHT",
        "batchB",
        "factor(x)level",
        "sex:age",
        "log(dose)",
        "treatmentA:timeB",
        "a",
        "xyz",
        "Some Long Name",
        "  spaced  ",
        "AGE",
        "ageGroup",
        "ageGroup2",
        "ageGrp",
        "x1",
        "x11",
        "xx",
        "aeiou",
        "bcdfg",
        "TreatmentEffect",
        "Treatment.Effect",
    ]
    ab = [
        {"x": [str(w) for w in rng.choice(words, size=int(rng.integers(1, 6)))], "m": int(rng.integers(1, 12))}
        for _ in range(400)
    ]
    pv = []
    for k in range(300):
        n = int(rng.integers(1, 6))
        kind = k % 4
        if kind == 0:
            x = 10.0 ** rng.uniform(-20, 0, size=n)
        elif kind == 1:
            x = rng.uniform(0, 1, size=n)
        elif kind == 2:
            x = np.concatenate([10.0 ** rng.uniform(-30, -15, size=1), rng.uniform(0, 0.01, size=n)])
        else:
            x = 10.0 ** rng.uniform(-6, -2, size=n)
        pv.append({"x": [float(v) for v in x], "digits": int(rng.integers(1, 6))})
    cm = []
    for k in range(200):
        p = int(rng.integers(1, 7))
        scale = 10.0 ** rng.integers(-5, 6)
        est = rng.normal(size=p) * scale * 10.0 ** rng.uniform(-2, 2, size=p)
        se = np.abs(rng.normal(size=p)) * scale
        if k % 11 == 0:
            est[0] = 0.0
        if k % 13 == 0:
            est[-1] = est[-1] * 1e-12
        t = est / se
        glmm = k % 2 == 0
        cm.append(
            {
                "est": [float(v) for v in est],
                "se": [float(v) for v in se],
                "t": [float(v) for v in t],
                "p": [erfc(abs(v) / sqrt(2)) for v in t] if glmm else None,
                "names": [f"x{i}" for i in range(p)],
                "digits": int(rng.choice([3, 4, 4, 4, 5, 7])),
            }
        )
    qs = [
        {"x": [float(v) for v in rng.normal(size=int(rng.integers(1, 40))) * 10.0 ** rng.integers(-3, 4)]}
        for _ in range(200)
    ]
    forms = [
        "Reaction ~ Days + (Days || Subject)",
        "Reaction ~ Days + (Days + I(Days^2) || Subject)",
        "y ~ x + (x + z || g)",
        "y ~ (0 + x || g)",
        "y ~ (1|g) + (x||g/h)",
        "y ~ (factor(a) || g)",
        "y~x+(x-1||g)",
        "y ~ x*z + (x*z || g)",
        "y ~ a:b + c + (a:b + c || g)",
        "cbind(incidence, size-incidence) ~ period + (1|herd)",
        "incidence/size ~ period + (1 | herd)",
        "y ~ log(x) + I(x^2) + poly(z, 2) + (1 | g1:g2) + (1 | g1/g2)",
        "y ~ -1 + x + (0+x|g)",
        "y ~ x - 1 + offset(log(n)) + (1 | g)",
        "~ x + (1|g)",
        "y ~ scale(x, center = TRUE, scale = FALSE) + (1 | g)",
        "y ~ x %in% z + (1|g)",
        "y ~ a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q + r + s + t + u + v + w + x + y2 + z + (1 | grp)",
        "response_variable_with_long_name ~ predictor_one + predictor_two + predictor_three + (1 + predictor_one | grouping_factor)",
        "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject) + (Days | Subject)",
        "y ~ f(aaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb, cccccccccccccccccccccc, dddddddddddddddddddd, eeeeeeeeeeeeeeeeeee)",
        "y ~ x^2 + x^3 + (x > 1) + !z + (a == b) + (1 | g)",
        "y ~ 1 + x + x:z + z + (1 + x || g) + (1 | h)",
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION) + (1 | AAAAAAAAAAAAAAAAAAAAA) + (1 | B)",
        "y ~ x + (1 + x + xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx + yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy + zzzzzzzzzzzzzzzzz || g)",
        "y ~ 0.5 * x + 1e-5 + 2L + (1|g)",
        "y ~ a$b + (1|g)",
    ]
    wraps = [
        "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)",
        "Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = 25)",
        "a b  c. d   e?  f",
        "word " * 30,
        "x" * 90 + " y",
    ]
    json.dump(
        {"format": fmt, "abbrev": ab, "pval": pv, "coefmat": cm, "quant": qs, "formulas": forms, "strwrap": wraps},
        open(HERE / "format_inputs.json", "w"),
    )


if __name__ == "__main__":
    main()
