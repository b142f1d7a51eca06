"""lme4 formulas: parsing, and materialization of their pieces through formulaic.

This package is the only place in mixedlm that imports formulaic.
"""

from __future__ import annotations

from mixedlm.formula.parser import ParsedFormula, RandomTermSpec, parse_formula

__all__ = ["ParsedFormula", "RandomTermSpec", "parse_formula"]
