"""Fitting stages: design, objective and optimizer, for each model kind (below :mod:`mixedlm.results`).

:mod:`~mixedlm.fitting.lmm` and :mod:`~mixedlm.fitting.glmm` hold lme4's modular stages
(build the model, make the objective, optimize); :mod:`~mixedlm.fitting.control` the
settings.  They know no fitted-model class: results, refits and inference call them.
"""
