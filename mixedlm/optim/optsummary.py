"""The record of one optimization run (lme4's ``optinfo`` / MixedModels.jl's ``OptSummary``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class OptSummary:
    """Settings, result and evaluation log of an optimizer run; JSON-serializable.

    Attributes
    ----------
    optimizer : str
        Registry name of the optimizer (``"bobyqa"``, ``"neldermead"``, …).
    initial : list of float
        Starting parameters.
    lower, upper : list of float
        Bounds (``-inf`` / ``inf`` allowed).
    settings : dict
        Tolerances and limits passed to the optimizer.
    final : list of float
        Parameters at the optimum.
    fmin : float
        Objective at ``final``.
    feval : int
        Number of objective evaluations.
    return_code : int
        Optimizer-specific status (NLopt: positive = success, negative = failure).
    message : str
        Human-readable status.
    converged : bool
        Whether the optimizer reported success (not a limit on evaluations or an error).
    log : list of (list of float, float)
        Every evaluation: parameters and objective.
    elapsed : float
        Wall seconds spent in the optimizer.
    polish : dict
        The Newton polish after the optimizer (:func:`mixedlm.optim.polish.newton_polish`):
        ``scaled_gradient_start``, ``scaled_gradient``, ``iterations``, ``evaluations``,
        ``converged``, ``message`` and the parameter ``scale`` (standard errors implied by
        its Hessian); empty when no polish ran.  ``final``/``fmin`` are the polished values
        and ``feval`` includes the polish's evaluations.
    """

    optimizer: str
    initial: list[float]
    lower: list[float]
    upper: list[float]
    settings: dict[str, Any] = field(default_factory=dict)
    final: list[float] = field(default_factory=list)
    fmin: float = float("nan")
    feval: int = 0
    return_code: int = 0
    message: str = ""
    converged: bool = False
    log: list[tuple[list[float], float]] = field(default_factory=list)
    elapsed: float = 0.0
    polish: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialize (infinite bounds become strings, as JSON has no infinity)."""

        def enc(x: Any) -> Any:
            if isinstance(x, float) and not np.isfinite(x):
                return str(x)
            if isinstance(x, (list, tuple)):
                return [enc(v) for v in x]
            if isinstance(x, dict):
                return {k: enc(v) for k, v in x.items()}
            return x

        return json.dumps(enc(asdict(self)))

    @classmethod
    def from_json(cls, text: str) -> OptSummary:
        """Inverse of :meth:`to_json`."""

        def dec(x: Any) -> Any:
            if isinstance(x, str) and x in ("inf", "-inf", "nan"):
                return float(x)
            if isinstance(x, list):
                return [dec(v) for v in x]
            if isinstance(x, dict):
                return {k: dec(v) for k, v in x.items()}
            return x

        d = dec(json.loads(text))
        d["log"] = [(list(p), f) for p, f in d.get("log", [])]
        return cls(**d)
