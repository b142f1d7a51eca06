"""Labels of interval bounds as R prints them."""

from __future__ import annotations

import math


def perc_labels(level: float) -> list[str]:
    """Column names for the two bounds as R's ``format.perc`` (``"2.5 %"``, ``"97.5 %"``).

    Both percentages are printed with the decimals the one needing most requires to
    show three significant digits (R's ``format(x, digits = 3)`` on the pair).
    """
    a = (1.0 - level) / 2.0
    vals = [100.0 * a, 100.0 * (1.0 - a)]
    dec = 0
    for v in vals:
        if v == 0:
            continue
        mag = math.floor(math.log10(abs(v)))
        r = float(f"{v:.3g}")
        for sig in range(1, 4):
            if abs(float(f"{r:.{sig}g}") - r) <= 1e-12 * abs(r):
                break
        dec = max(dec, sig - 1 - mag)
    return [f"{v:.{max(dec, 0)}f} %" for v in vals]
