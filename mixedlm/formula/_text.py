"""Low-level scanning of formula text.

Formula strings mix formula operators (``~ + - | / :``) with Python (or R-like)
expressions.  The helpers here walk the text once, tracking bracket depth and quoted
spans, so that the parser can split at *top-level* operators only.  Nothing here
knows about mixed models.
"""

from __future__ import annotations

from mixedlm.errors import FormulaError

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")": "(", "]": "[", "}": "{"}
_QUOTES = ("'", '"', "`")


def snippet(text: str, start: int, end: int | None = None, width: int = 12) -> str:
    """Return the text around ``text[start:end]`` for an error message.

    Parameters
    ----------
    text : str
        The whole text.
    start, end : int
        The offending span (``end`` defaults to ``start + 1``).
    width : int
        Characters of context shown on either side.

    Returns
    -------
    str
        The span with some context, with ``...`` where the text was cut.
    """
    end = start + 1 if end is None else end
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(text) else ""
    return f"{prefix}{text[lo:hi]}{suffix}"


def depth_map(text: str) -> list[int]:
    """Bracket depth of every character, ``-1`` for characters inside quotes.

    Also checks that brackets and quotes are balanced.

    Parameters
    ----------
    text : str
        Formula text.

    Returns
    -------
    list of int
        ``depth[i]`` is the number of brackets open *before* character ``i``
        (an opening bracket has the depth of its surroundings, as does its closing
        partner); characters inside a quoted span (and the quotes) get ``-1``.

    Raises
    ------
    FormulaError
        For an unmatched or mismatched bracket or an unterminated quote; the message
        quotes the place.
    """
    depths: list[int] = []
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    quote_at = -1
    for i, ch in enumerate(text):
        if quote is not None:
            depths.append(-1)
            if ch == quote:
                quote = None
            continue
        if ch in _QUOTES:
            quote, quote_at = ch, i
            depths.append(-1)
        elif ch in _OPEN:
            depths.append(len(stack))
            stack.append((ch, i))
        elif ch in _CLOSE:
            if not stack:
                raise FormulaError(
                    f"unbalanced parentheses: '{ch}' at position {i} has no opening partner in {snippet(text, i)!r}"
                )
            opener, at = stack.pop()
            if _OPEN[opener] != ch:
                raise FormulaError(
                    f"unbalanced parentheses: '{opener}' at position {at} is closed by "
                    f"'{ch}' at position {i} in {snippet(text, at, i + 1)!r}"
                )
            depths.append(len(stack))
        else:
            depths.append(len(stack))
    if quote is not None:
        raise FormulaError(f"unterminated quote {quote} starting at position {quote_at} in {snippet(text, quote_at)!r}")
    if stack:
        opener, at = stack[-1]
        raise FormulaError(
            f"unbalanced parentheses: '{opener}' at position {at} is never closed in {snippet(text, at)!r}"
        )
    return depths


def top_level_positions(text: str, char: str) -> list[int]:
    """Positions of ``char`` outside any bracket or quote.

    Parameters
    ----------
    text : str
        Balanced text.
    char : str
        A single character.

    Returns
    -------
    list of int
        Indices ``i`` with ``text[i] == char`` at depth 0.
    """
    depths = depth_map(text)
    return [i for i, ch in enumerate(text) if ch == char and depths[i] == 0]


def split_top(text: str, char: str) -> list[str]:
    """Split ``text`` at every top-level occurrence of ``char``.

    Parameters
    ----------
    text : str
        Balanced text.
    char : str
        Separator character (``","``, ``"/"``, ``":"``).

    Returns
    -------
    list of str
        The pieces, stripped of surrounding whitespace.
    """
    pieces: list[str] = []
    last = 0
    for pos in top_level_positions(text, char):
        pieces.append(text[last:pos].strip())
        last = pos + 1
    pieces.append(text[last:].strip())
    return pieces


def signed_chunks(text: str) -> list[tuple[str, str, int]]:
    """Split a formula side into its top-level ``+`` / ``-`` separated chunks.

    Parameters
    ----------
    text : str
        Balanced right-hand side of a formula, e.g. ``"-1 + x + (x | g)"``.

    Returns
    -------
    list of (sign, chunk, start)
        ``sign`` is ``"+"`` or ``"-"`` (the operator in front of the chunk; ``"+"``
        for a first chunk without one), ``chunk`` the stripped chunk text and
        ``start`` its position in ``text`` (for error messages).

    Raises
    ------
    FormulaError
        If two operators follow each other or an operator ends the text
        (``"x + + z"``, ``"x +"``).
    """
    depths = depth_map(text)
    cuts = [i for i, ch in enumerate(text) if ch in "+-" and depths[i] == 0 and not _is_exponent_sign(text, i)]
    bounds = [-1, *cuts, len(text)]
    chunks: list[tuple[str, str, int]] = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k] + 1, bounds[k + 1]
        raw = text[lo:hi]
        sign = text[bounds[k]] if k > 0 else "+"
        if not raw.strip():
            if k == 0:
                continue  # leading operator: "-1 + x", "+ x"
            raise FormulaError(f"missing term after '{sign}' at position {bounds[k]} in {snippet(text, bounds[k])!r}")
        chunks.append((sign, raw.strip(), lo + len(raw) - len(raw.lstrip())))
    return chunks


def _is_exponent_sign(text: str, i: int) -> bool:
    """True if the ``+``/``-`` at ``i`` is the sign of a float exponent (``1e-3``)."""
    if i < 2 or text[i - 1] not in "eE":
        return False
    j = i - 2
    while j >= 0 and (text[j].isdigit() or text[j] == "."):
        j -= 1
    mantissa = text[j + 1 : i - 1]
    starts_number = j < 0 or not (text[j].isalnum() or text[j] == "_")
    return bool(mantissa) and any(c.isdigit() for c in mantissa) and starts_number


def strip_outer_parens(text: str) -> str:
    """Remove parentheses that enclose the whole text (repeatedly).

    Parameters
    ----------
    text : str
        Balanced text.

    Returns
    -------
    str
        ``"((1 | g))"`` -> ``"1 | g"``; ``"(a) + (b)"`` is returned unchanged.
    """
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and encloses(text, 0):
        text = text[1:-1].strip()
    return text


def encloses(text: str, open_at: int) -> bool:
    """True if the bracket opened at ``open_at`` closes at the last character."""
    depths = depth_map(text)
    level = depths[open_at]
    for j in range(open_at + 1, len(text)):
        if depths[j] == level and text[j] in _CLOSE:
            return j == len(text) - 1
    return False


def call_parts(text: str, name: str) -> list[str] | None:
    """Arguments of ``text`` if it is exactly one call ``name(...)``.

    Parameters
    ----------
    text : str
        Balanced text, e.g. ``"cbind(s, n - s)"``.
    name : str
        Function name to look for.

    Returns
    -------
    list of str or None
        The top-level comma-separated arguments, or ``None`` if ``text`` is not a
        single call of ``name`` spanning the whole text.
    """
    text = text.strip()
    if not text.startswith(name):
        return None
    rest = text[len(name) :].lstrip()
    if not rest.startswith("(") or not rest.endswith(")"):
        return None
    if not encloses(rest, 0):
        return None
    inner = rest[1:-1]
    if not inner.strip():
        return []
    return split_top(inner, ",")


def is_identifier_char(ch: str) -> bool:
    """True for characters that can end a name or call target (``f(``, ``x[``)."""
    return ch.isalnum() or ch in "_.]`"
