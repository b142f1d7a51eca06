"""R's string utilities used in printing: ``abbreviate()``, ``make.unique()``,
``make.names()``, ``cat(fill = )`` and ``strwrap()`` (``src/main/character.c``,
``src/main/builtin.c``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# ---------------------------------------------------------------------------
# Names: abbreviate(), make.unique(), make.names()
# ---------------------------------------------------------------------------

_C_SPACE = " \t\n\v\f\r"


def _stripchars(s: str, minlen: int, usecl: bool = True) -> str:
    """The C routine behind ``abbreviate()`` (character.c ``stripchars``)."""
    b = list(s)

    def at(i: int) -> str:
        return b[i] if i < len(b) else "\0"

    def isspace(c: str) -> bool:
        return c in _C_SPACE and c != ""

    def firstchar(i: int) -> bool:
        return isspace(at(i - 1))

    def lastchar(i: int) -> bool:
        nxt = at(i + 1)
        return (not isspace(at(i - 1))) and (nxt == "\0" or isspace(nxt))

    def lc_vowel(i: int) -> bool:
        return at(i) in "aeiou" and at(i) != "\0"

    def islower(i: int) -> bool:
        c = at(i)
        return "a" <= c <= "z"

    nspace = 0

    def done() -> bool:
        return len(b) - nspace <= minlen

    def delete(i: int) -> None:
        if i < len(b):
            del b[i]

    finished = len(b) < minlen
    if not finished:
        j = True
        for i in range(len(b) - 1, 0, -1):
            if i < len(b) and isspace(b[i]):
                if j:
                    del b[i:]  # trailing space terminates the string
                else:
                    nspace += 1
            else:
                j = False
            if done():
                finished = True
                break
    if not finished and usecl:
        for test in (
            lambda i: lc_vowel(i) and lastchar(i),
            lambda i: lc_vowel(i) and not firstchar(i),
            lambda i: islower(i) and lastchar(i),
            lambda i: islower(i) and not firstchar(i),
        ):
            for i in range(len(b) - 1, 0, -1):
                if test(i):
                    delete(i)
                if done():
                    finished = True
                    break
            if finished:
                break
    if not finished:
        for i in range(len(b) - 1, 0, -1):
            if not firstchar(i) and not isspace(at(i)):
                delete(i)
            if done():
                break
    if len(b) > minlen:
        for i in range(len(b) - 1, 0, -1):
            if isspace(b[i]):
                del b[i]
    return "".join(b)


def abbreviate(names: Sequence[str], minlength: int = 4, use_classes: bool = True, strict: bool = False) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method ``"left.kept"``).

    Drops lower-case vowels, then lower-case letters, then other characters, from
    the end towards the start (never the first character of a word) until a name
    has ``minlength`` characters; non-unique results get one more character.

    Parameters
    ----------
    names : sequence of str
    minlength : int, default 4
    use_classes : bool, default True
    strict : bool, default False
        Do not lengthen duplicated abbreviations.

    Returns
    -------
    list of str

    Examples
    --------
    >>> abbreviate(["(Intercept)", "Days"], 6)
    ['(Intr)', 'Days']
    """
    if minlength <= 0:
        return ["" for _ in names]
    trimmed = [re.sub(r" +$", "", re.sub(r"^ +", "", str(n))) for n in names]
    uniq: list[str] = []
    for n in trimmed:
        if n not in uniq:
            uniq.append(n)

    def c_abbrev(xs: list[str], ml: int) -> list[str]:
        return [_stripchars(s, ml, use_classes) if len(s) > ml else s for s in xs]

    x = list(uniq)
    if strict:
        x = c_abbrev(x, minlength)
    else:
        ml = minlength
        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = c_abbrev(these, ml)
            k = 0
            for i, flag in enumerate(dup2):
                if flag:
                    x[i] = ans[k]
                    k += 1
            seen: set[str] = set()
            dup = []
            for v in x:
                dup.append(v in seen)
                seen.add(v)
            if not any(dup):
                break
            ml += 1
            dupvals = {v for v, f in zip(x, dup) if f}
            dup2 = [f or (v in dupvals) for v, f in zip(x, dup)]
            these = [n for n, f in zip(uniq, dup2) if f]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in trimmed]


def make_unique(names: Sequence[str], sep: str = ".") -> list[str]:
    """R's ``make.unique()``: append ``.1``, ``.2``, ... to repeated names.

    Parameters
    ----------
    names : sequence of str
    sep : str, default "."

    Returns
    -------
    list of str

    Examples
    --------
    >>> make_unique(["Subject", "Subject", "Subject"])
    ['Subject', 'Subject.1', 'Subject.2']
    """
    out = list(names)
    used = set(out)
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            k = counts.get(n, 0)
            while True:
                k += 1
                cand = f"{n}{sep}{k}"
                if cand not in used:
                    break
            counts[n] = k
            out[i] = cand
            used.add(cand)
        else:
            seen.add(n)
    return out


_R_RESERVED = {
    "if",
    "else",
    "repeat",
    "while",
    "function",
    "for",
    "next",
    "break",
    "TRUE",
    "FALSE",
    "NULL",
    "Inf",
    "NaN",
    "NA",
    "NA_integer_",
    "NA_real_",
    "NA_character_",
    "NA_complex_",
    "in",
}


def make_names(names: Sequence[str], unique: bool = False) -> list[str]:
    """R's ``make.names()`` (ASCII rules): syntactic names, optionally unique.

    Parameters
    ----------
    names : sequence of str
    unique : bool, default False
        Apply :func:`make_unique` afterwards.

    Returns
    -------
    list of str
    """
    out = []
    for n in names:
        s = str(n)
        if not s or not (s[0].isalpha() or (s[0] == "." and not (len(s) > 1 and s[1].isdigit()))):
            s = "X" + s
        s = "".join(c if (c.isalnum() or c in "._") else "." for c in s)
        if s in _R_RESERVED:
            s += "."
        out.append(s)
    return make_unique(out) if unique else out


def cat(*objs: str | Sequence[str], sep: str = " ", fill: bool | int = False, width: int = 80) -> str:
    """R's ``cat(..., sep, fill)`` for character arguments, returned as a string.

    With ``fill`` a newline is started before an item that would pass the fill
    width (R prints the separator first, so such lines end with it), and the
    output ends with a newline.

    Parameters
    ----------
    *objs : str or sequence of str
        The arguments; a sequence is a character vector (its elements are
        separated by ``sep`` too).
    sep : str, default " "
    fill : bool or int, default False
        ``True`` wraps at ``width``; an int is the wrap width.
    width : int, default 80

    Returns
    -------
    str
    """
    if fill is True:
        pwidth: float = width
    elif fill is False or fill is None:
        pwidth = math.inf
    else:
        pwidth = int(fill)
    out: list[str] = []
    cur = 0
    sepw = len(sep)
    first_obj = True
    for obj in objs:
        items = [obj] if isinstance(obj, str) else list(obj)
        if not first_obj:
            out.append(sep)
        if items:
            p = items[0]
            if not first_obj and cur + len(p) + sepw > pwidth:
                out.append("\n")
                cur = 0
            for i, p in enumerate(items):
                out.append(p)
                cur += len(p) + sepw
                if i < len(items) - 1:
                    out.append(sep)
                    nxt = items[i + 1]
                    if cur + len(nxt) + sepw > pwidth:
                        out.append("\n")
                        cur = 0
        first_obj = False
    if pwidth != math.inf or "\n" in sep:
        out.append("\n")
    return "".join(out)


def strwrap(
    x: str, width: int = 72, indent: int = 0, exdent: int = 0, prefix: str = "", initial: str | None = None
) -> list[str]:
    """R's ``strwrap()`` for one paragraph string.

    Words are separated by single whitespace characters; a line holds as many
    words as keep it *shorter* than ``width``.

    Parameters
    ----------
    x : str
    width : int, default 72
    indent, exdent : int, default 0
        Indentation of the first / following lines.
    prefix, initial : str
        As in R.

    Returns
    -------
    list of str
    """
    if initial is None:
        initial = prefix
    result: list[str] = []
    for para in re.split(r"\n[ \t\n]*\n", x):
        words = re.split(r"[ \t\n]", para)
        keep = []
        for k, wd in enumerate(words):
            if wd == "" and not (k > 0 and re.search(r"[.?!][)\"']{0,1}$", words[k - 1])):
                continue
            keep.append(wd)
        words = keep
        if not words:
            result.append(initial)
            initial = prefix
            continue
        nc = [len(wd) for wd in words]
        lines: list[list[str]] = []
        start = 0
        max_len = width - len(initial) - indent
        first = True
        while start < len(words):
            tot = 0
            k = 0
            for m in range(start, len(words)):
                tot += nc[m] + 1
                if tot <= max_len:
                    k += 1
                else:
                    break
            k = max(k, 1)
            if first:
                first = False
                max_len = width - len(prefix) - exdent
            block = words[start : start + k]
            if nc[start + k - 1] == 0:  # a kept empty word does not end a line
                block = block[:-1]
            lines.append(block)
            start += k
            if start < len(words) and nc[start] == 0:
                start += 1
        for i, ln in enumerate(lines):
            lead = (initial if i == 0 else prefix) + " " * (indent if i == 0 else exdent)
            result.append(lead + " ".join(ln))
        initial = prefix
    return result
