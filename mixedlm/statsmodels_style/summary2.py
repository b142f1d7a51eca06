"""statsmodels' ``summary2`` layout, the one printer of the statsmodels-style results.

``Summary2(title, table, info=..., extra_txt=..., formats=...)`` prints::

          <title, centred>
    ================================
    <info block: two key/value column pairs>      (only when there is one)
    --------------------------------
          <column headers, centred>
    --------------------------------
    <stub>   <cells, right-aligned>
    ================================
    <extra text, wrapped>

The info block is left-aligned, the table right-aligned with centred headers; the
narrower of the two is widened to the other's width by padding its column separators
(then its first column), as statsmodels does.  Table cells are printed with ``str`` unless
``formats`` gives a format for their column (e.g. ``{"Post. Mean": "{:.4f}"}``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pandas as pd


class Summary2:
    """A summary in statsmodels' ``summary2`` layout (``str()`` prints it).

    Attributes
    ----------
    title : str
    table : pandas.DataFrame
        The coefficient table (index = row labels).
    info : list of (str, str)
        Key/value pairs of the info block (printed in two column pairs); may be empty.
    extra_txt : list of str
        Paragraphs printed after the table, wrapped to its width.
    tables : list of pandas.DataFrame
        ``[table]`` (statsmodels' attribute).
    """

    def __init__(
        self,
        title: str,
        table: pd.DataFrame,
        info: Sequence[tuple[str, str]] = (),
        extra_txt: Sequence[str] = (),
        formats: dict[str, str] | None = None,
    ) -> None:
        self.title = title
        self.table = table
        self.tables = [table]
        self.info = list(info)
        self.extra_txt = list(extra_txt)
        self.formats = dict(formats or {})

    def _info_cells(self) -> list[list[str]]:
        half = (len(self.info) + 1) // 2
        left, right = self.info[:half], self.info[half:]
        right = right + [("", "")] * (half - len(right))
        return [[a, b, c, d] for (a, b), (c, d) in zip(left, right)]

    def _cells(self) -> dict[str, list[str]]:
        out = {}
        for col in self.table.columns:
            fmt = self.formats.get(col)
            out[col] = [fmt.format(float(v)) if fmt else str(v) for v in self.table[col].tolist()]
        return out

    def as_text(self) -> str:
        """The summary as text (ends with a newline)."""
        tab = self.table
        cells = self._cells()
        stubs = [str(s) for s in tab.index]
        sw = max([len(s) for s in stubs] + [0])
        cw = [max([len(c)] + [len(v) for v in cells[c]]) for c in tab.columns]
        w_tab = sw + sum(cw) + len(cw)
        info = self._info_cells()
        iw = [max(len(r[c]) for r in info) for c in range(4)] if info else [0, 0, 0, 0]
        w_info = sum(iw) + 3 if info else 0
        widest = max(w_info, w_tab)

        def pads(width: int, nsep: int) -> tuple[int, int]:
            pad = (widest - width) // nsep
            return pad, widest - (width + nsep * pad)

        lines = []
        pad_title = (widest - len(self.title)) // 2 if len(self.title) < widest else 0
        lines.append(" " * pad_title + self.title)
        lines.append("=" * widest)
        if info:
            ipad, iextra = pads(w_info, 3)
            isep = " " * (1 + ipad)
            for r in info:
                lines.append(isep.join([r[0].ljust(iw[0] + iextra)] + [r[c].ljust(iw[c]) for c in (1, 2, 3)]))
            lines.append("-" * widest)
        tpad, textra = pads(w_tab, max(len(cw) - 1, 1))
        tsep = " " * (1 + tpad)
        stub_w = sw + textra
        lines.append(" " * stub_w + "".join(tsep + c.center(w) for c, w in zip(tab.columns, cw)))
        lines.append("-" * widest)
        for i, s in enumerate(stubs):
            lines.append(s.ljust(stub_w) + "".join(tsep + cells[c][i].rjust(w) for c, w in zip(tab.columns, cw)))
        lines.append("=" * widest)
        for txt in self.extra_txt:
            lines.extend(textwrap.wrap(txt, width=max(widest, 40)))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()
