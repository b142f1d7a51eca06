"""R-style printing: numbers, strings, tables and coefficient matrices as R 4.2 prints them.

A leaf package — it imports nothing else from mixedlm — that every layer may use:
:mod:`~mixedlm.rprint.numbers` (``round``, ``signif``, ``format``), :mod:`~mixedlm.rprint.strings`
(``abbreviate``, ``strwrap``, ``cat``), :mod:`~mixedlm.rprint.tables` (character matrices,
named vectors) and :mod:`~mixedlm.rprint.coefmat` (``printCoefmat``, ``format.pval``).
"""
