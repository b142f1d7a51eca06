"""``print.default`` of character matrices and named vectors, as R lays them out
(``src/main/printarray.c``, ``src/main/printvector.c``)."""

from __future__ import annotations

from collections.abc import Sequence

from mixedlm.rprint.numbers import r_format

# ---------------------------------------------------------------------------
# Printing tables: print.default for character matrices and named vectors
# ---------------------------------------------------------------------------


def _index_width(n: int) -> int:
    return len(str(n))


def format_char_matrix(
    cells: Sequence[Sequence[str]],
    rownames: Sequence[str] | None = None,
    colnames: Sequence[str] | None = None,
    right: bool = False,
    width: int = 80,
    gap: int = 1,
) -> str:
    """R's ``print(<character matrix>, quote = FALSE)`` (``printMatrix``).

    Columns are padded to the widest of entry and label, separated by ``gap``
    spaces, left-justified unless ``right``; row labels are left-justified.  A
    matrix wider than ``width`` is printed in blocks of columns, as R does.

    Parameters
    ----------
    cells : sequence of rows of str
    rownames, colnames : sequence of str, optional
        Labels; R prints ``[1,]`` / ``[,1]`` when missing.
    right : bool, default False
        Right-justify the columns (and their labels).
    width : int, default 80
        R's ``width`` option.
    gap : int, default 1
        R's ``print.gap``.

    Returns
    -------
    str
        The printed text, ending with a newline.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(colnames) if colnames is not None else 0)
    if rownames is not None:
        rlabw = max((len(s) for s in rownames), default=0)
    else:
        rlabw = _index_width(r + 1) + 3
    w = []
    for j in range(c):
        wj = max((len(cells[i][j]) for i in range(r)), default=0)
        clabw = len(colnames[j]) if colnames is not None else _index_width(j + 1) + 3
        w.append(max(wj, clabw))

    def rowlab(i: int) -> str:
        if rownames is not None:
            return rownames[i].ljust(rlabw)
        lab = f"[{i + 1},]"
        return lab.rjust(rlabw)

    def collab(j: int) -> str:
        lab = colnames[j] if colnames is not None else f"[,{j + 1}]"
        if right:
            return " " * gap + lab.rjust(w[j])
        return " " * gap + lab.ljust(w[j])

    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + rowlab(i))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + gap
            jmax += 1
            if not (jmax < c and tot + w[jmax] + gap < width):
                break
        out.append(" " * rlabw)
        for j in range(jmin, jmax):
            out.append(collab(j))
        for i in range(r):
            out.append("\n" + rowlab(i))
            for j in range(jmin, jmax):
                cell = cells[i][j]
                out.append(" " * gap + (cell.rjust(w[j]) if right else cell.ljust(w[j])))
        out.append("\n")
        jmin = jmax
    return "".join(out)


def format_named_vector(values: Sequence[str], names: Sequence[str], width: int = 80, gap: int = 1) -> str:
    """R's print of a named vector whose entries are already formatted strings.

    Names and values are right-justified to a common width; as many entries as fit
    in ``width`` go on one line, each followed by ``gap`` spaces (so lines end with
    a space, as in R).

    Parameters
    ----------
    values : sequence of str
    names : sequence of str
    width : int, default 80
    gap : int, default 1

    Returns
    -------
    str
        Text ending with a newline.
    """
    n = len(values)
    if n == 0:
        return "named character(0)\n"
    w = max(max(len(v) for v in values), max(len(s) for s in names))
    nperline = max(1, width // (w + gap))
    nlines = -(-n // nperline)
    out: list[str] = []
    for i in range(nlines):
        if i:
            out.append("\n")
        idx = range(i * nperline, min(n, (i + 1) * nperline))
        out.append("".join(names[k].rjust(w) + " " * gap for k in idx) + "\n")
        out.append("".join(values[k].rjust(w) + " " * gap for k in idx))
    out.append("\n")
    return "".join(out)


def format_named_numeric(x: Sequence[float], names: Sequence[str], digits: int = 7, width: int = 80) -> str:
    """R's ``print(<named numeric vector>, digits = digits)``.

    Parameters
    ----------
    x : sequence of float
    names : sequence of str
    digits : int, default 7
    width : int, default 80

    Returns
    -------
    str
    """
    return format_named_vector(r_format(list(x), digits=digits), names, width=width)
