"""The cbpp tutorial (docs/glmer.md): a binomial GLMM with adaptive Gauss-Hermite quadrature.

Run with ``bash scripts/setup.sh`` (the main job) or ``.venv/bin/python examples/cbpp_tutorial.py``.
In R:  summary(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, nAGQ = 10))
"""

import numpy as np

import mixedlm as mlm

cbpp = mlm.load_cbpp()
model = mlm.glmer("incidence / size ~ period + (1 | herd)", cbpp, family=mlm.families.Binomial(), nAGQ=10)
print(model.summary())
fixef = model.fixef()
print({k: np.exp(v) for k, v in fixef.items() if k != "(Intercept)"})
probs = model.predict(type="response")
print(model.confint())  # profile-likelihood intervals, as lme4's confint()
print(mlm.checkConv(model).ok)
