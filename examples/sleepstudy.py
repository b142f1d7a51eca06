"""Fit lme4's sleepstudy model and print the lme4-style summary.

Run with ``bash scripts/setup.sh`` (sets everything up first) or, once set up,
``.venv/bin/python examples/sleepstudy.py``. In R this is

    library(lme4)
    summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
"""

import mixedlm as mlm

sleepstudy = mlm.load_sleepstudy()
m = mlm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
print(m.summary())
