"""Data files for :mod:`mixedlm.datasets` (the CSVs and ``schema.json``).

This folder is installed as the package ``mixedlm._datasets`` (see ``setup.py``),
so the files are reached with :mod:`importlib.resources` both from a wheel and
from an editable install. It holds no code; use ``mixedlm.load_<name>()``.
"""
