"""R's ``deparse()`` of a formula and lme4's ``expandDoubleVerts``: the formula as summaries print it.

The formula is read into R's expression tree (operators with R's precedences from
``gram.y``), then written back with R's spacing and line breaks (``src/main/deparse.c``).
The tree is also what ``||`` is expanded on: ``(x || g)`` becomes ``((1 | g) + (0 + x | g))``
with the term labels of R's ``terms()`` (:func:`mixedlm.formula.terms.term_labels`, the
formula layer's), which is how lme4 stores the formula it fitted.
(:mod:`mixedlm.formula.parser` splits a formula into the pieces that are fitted; this
module only reproduces how R prints it.)
"""

from __future__ import annotations

import re

from mixedlm.rprint.numbers import r_format

from .terms import term_labels

# ---------------------------------------------------------------------------
# deparse() of formulas
# ---------------------------------------------------------------------------

# precedence levels (R's gram.y / names.c)
(
    _P_TILDE,
    _P_OR,
    _P_AND,
    _P_NOT,
    _P_COMPARE,
    _P_SUM,
    _P_PROD,
    _P_PERCENT,
    _P_COLON,
    _P_SIGN,
    _P_POWER,
    _P_DOLLAR,
    _P_NS,
) = range(1, 14)

# binary operator -> (precedence, right-assoc, spaced)
_BINOPS: dict[str, tuple[int, bool, bool]] = {
    "~": (_P_TILDE, False, True),
    "||": (_P_OR, False, True),
    "|": (_P_OR, False, True),
    "&&": (_P_AND, False, True),
    "&": (_P_AND, False, True),
    "==": (_P_COMPARE, False, True),
    "!=": (_P_COMPARE, False, True),
    "<": (_P_COMPARE, False, True),
    ">": (_P_COMPARE, False, True),
    "<=": (_P_COMPARE, False, True),
    ">=": (_P_COMPARE, False, True),
    "+": (_P_SUM, False, True),
    "-": (_P_SUM, False, True),
    "*": (_P_PROD, False, True),
    "/": (_P_PROD, False, False),
    ":": (_P_COLON, False, False),
    "^": (_P_POWER, True, False),
    "$": (_P_DOLLAR, False, False),
    "@": (_P_DOLLAR, False, False),
    "::": (_P_NS, False, False),
    ":::": (_P_NS, False, False),
}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`[^`]*`)
  | (?P<name>(?:[A-Za-z]|\.(?!\d))[A-Za-z0-9._]*|\.)
  | (?P<op>%[^%]*%|:::|::|\|\||&&|==|!=|<=|>=|\*\*|[-+*/^~|&!<>:$@(),=\[\]])
    """,
    re.VERBOSE,
)


class _Node:
    """A parsed R expression: ``kind`` is 'sym', 'num', 'str', 'call', 'paren', 'binop', 'unop'."""

    __slots__ = ("kind", "value", "args", "names")

    def __init__(
        self, kind: str, value: str, args: list[_Node] | None = None, names: list[str | None] | None = None
    ) -> None:
        self.kind = kind
        self.value = value
        self.args = args or []
        self.names = names or []


class _Parser:
    def __init__(self, text: str) -> None:
        toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise ValueError(f"cannot tokenize {text[pos:]!r}")
            pos = m.end()
            kind = m.lastgroup
            if kind == "ws":
                continue
            val = m.group()
            if kind == "op" and val == "**":
                val = "^"
            toks.append((str(kind), val))
        self.toks = toks
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, val: str) -> None:
        t = self.peek()
        if t is None or t[1] != val:
            raise ValueError(f"expected {val!r}")
        self.i += 1

    def parse(self) -> _Node:
        node = self.expr(0)
        if self.peek() is not None:
            raise ValueError("trailing input")
        return node

    def _binop_info(self, t: tuple[str, str] | None) -> tuple[int, bool] | None:
        if t is None or t[0] != "op":
            return None
        v = t[1]
        if v in _BINOPS:
            prec, rassoc, _ = _BINOPS[v]
            return prec, rassoc
        if v.startswith("%") and v.endswith("%") and len(v) >= 2:
            return _P_PERCENT, False
        return None

    def expr(self, min_prec: int) -> _Node:
        left = self.prefix()
        while True:
            t = self.peek()
            info = self._binop_info(t)
            if info is None:
                # postfix: calls and indexing bind tightest
                if t is not None and t[1] in ("(", "[") and t[0] == "op":
                    left = self.postfix(left)
                    continue
                break
            prec, rassoc = info
            if prec < min_prec:
                break
            assert t is not None
            self.take()
            nxt = prec if rassoc else prec + 1
            right = self.expr(nxt)
            left = _Node("binop", t[1], [left, right])
        return left

    def postfix(self, fn: _Node) -> _Node:
        t = self.take()
        if t[1] == "(":
            args, names = self.arglist(")")
            return _Node("call", "", [fn] + args, [None] + names)
        args, names = self.arglist("]")
        return _Node("index", "", [fn] + args, [None] + names)

    def arglist(self, close: str) -> tuple[list[_Node], list[str | None]]:
        args: list[_Node] = []
        names: list[str | None] = []
        t = self.peek()
        if t is not None and t[1] == close:
            self.take()
            return args, names
        while True:
            nm = None
            t = self.peek()
            if (
                t is not None
                and t[0] in ("name", "str", "bq")
                and self.i + 1 < len(self.toks)
                and self.toks[self.i + 1][1] == "="
            ):
                nm = t[1]
                self.i += 2
            args.append(self.expr(0))
            names.append(nm)
            t = self.take()
            if t[1] == close:
                return args, names
            if t[1] != ",":
                raise ValueError("bad argument list")

    def prefix(self) -> _Node:
        t = self.take()
        kind, v = t
        if kind == "num":
            return _Node("num", v)
        if kind == "str":
            return _Node("str", v)
        if kind in ("name", "bq"):
            return _Node("sym", v)
        if v == "(":
            inner = self.expr(0)
            self.expect(")")
            return _Node("paren", "(", [inner])
        if v in ("-", "+"):
            return _Node("unop", v, [self.expr(_P_SIGN)])
        if v == "!":
            return _Node("unop", v, [self.expr(_P_NOT)])
        if v == "~":
            return _Node("unop", v, [self.expr(_P_TILDE + 1)])
        raise ValueError(f"unexpected {v!r}")


class _Deparser:
    """R's ``deparse()`` line breaking (width.cutoff = 60) for a parsed expression."""

    def __init__(self, cutoff: int = 60) -> None:
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.len = 0
        self.indent = 0
        self.startline = True

    def writeline(self) -> None:
        self.lines.append(self.buf)
        self.buf = ""
        self.len = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self.put("    " if i <= 4 else "  ")
        self.buf += s
        self.len += len(s)

    def linebreak(self, lbreak: list[bool]) -> None:
        if self.len > self.cutoff:
            if not lbreak[0]:
                lbreak[0] = True
                self.indent += 1
            self.writeline()

    def args(self, args: list[_Node], names: list[str | None]) -> None:
        lbreak = [False]
        for k, (a, nm) in enumerate(zip(args, names)):
            if nm is not None:
                self.put(nm)
                self.put(" = ")
            self.node(a)
            if k < len(args) - 1:
                self.put(", ")
                self.linebreak(lbreak)
        if lbreak[0]:
            self.indent -= 1

    def node(self, n: _Node) -> None:
        if n.kind in ("sym", "str"):
            self.put(n.value)
        elif n.kind == "num":
            self.put(_deparse_number(n.value))
        elif n.kind == "paren":
            self.put("(")
            self.node(n.args[0])
            self.put(")")
        elif n.kind == "unop":
            self.put(n.value)
            self.node(n.args[0])
        elif n.kind == "binop":
            op = n.value
            spaced = _BINOPS[op][2] if op in _BINOPS else True
            self.node(n.args[0])
            if spaced:
                self.put(" ")
                self.put(op)
                self.put(" ")
                lbreak = [False]
                self.linebreak(lbreak)
                self.node(n.args[1])
                if lbreak[0]:
                    self.indent -= 1
            else:
                self.put(op)
                self.node(n.args[1])
        elif n.kind in ("call", "index"):
            self.node(n.args[0])
            self.put("(" if n.kind == "call" else "[")
            self.args(n.args[1:], n.names[1:])
            self.put(")" if n.kind == "call" else "]")
        else:  # pragma: no cover
            raise ValueError(n.kind)


def _deparse_number(tok: str) -> str:
    if tok.endswith("L"):
        return tok
    v = float(tok)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return r_format([v], digits=15, trim=True)[0]


def deparse_formula(formula: str, cutoff: int = 60) -> list[str]:
    """Deparse a formula the way R's ``deparse()`` prints it (spacing and line breaks).

    R normalises spacing (``a + b``, ``(1 | g)``, ``a/b``, ``a:b``, ``x^2``) and
    breaks lines after a binary operator or argument comma once a line exceeds
    ``cutoff`` characters, indenting continuation lines by four spaces.

    Parameters
    ----------
    formula : str
        Formula text in R syntax (``**`` is read as ``^``).
    cutoff : int, default 60
        ``width.cutoff``.

    Returns
    -------
    list of str
        The deparsed lines; the input unchanged (one line) if it cannot be parsed.
    """
    try:
        tree = _Parser(formula).parse()
    except (ValueError, IndexError):
        return [formula]
    dp = _Deparser(cutoff)
    dp.node(tree)
    dp.writeline()
    return dp.lines


def expand_double_verts(formula: str) -> str:
    """lme4's ``expandDoubleVerts``: ``(x || g)`` -> ``((1 | g) + (0 + x | g))``.

    This is how lme4 rewrites the formula stored in the fitted model's call, so it
    is what ``summary()`` prints for uncorrelated random effects.

    Parameters
    ----------
    formula : str

    Returns
    -------
    str
        The formula with every ``||`` term expanded (unchanged when there is none
        or the text cannot be parsed).
    """
    if "||" not in formula:
        return formula
    try:
        tree = _Parser(formula).parse()
    except (ValueError, IndexError):
        return formula

    def text(n: _Node) -> str:
        dp = _Deparser(10**9)
        dp.node(n)
        dp.writeline()
        return dp.lines[0]

    def rec(n: _Node) -> _Node:
        if n.kind == "binop" and n.value == "||":
            labels, icpt = term_labels(text(n.args[0]))
            grp = text(n.args[1])
            pieces = (["1"] if icpt else []) + ["0+" + lab for lab in labels]
            expr = "(" + ")+(".join(p + "|" + grp for p in pieces) + ")"
            return _Parser(expr).parse()
        n.args = [rec(a) for a in n.args]
        return n

    return text(rec(tree))
