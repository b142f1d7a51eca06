"""Package layout for setuptools; all other metadata lives in pyproject.toml.

The data files sit in the top-level ``datasets/`` folder but must be importable as
``mixedlm._datasets``. A ``package-dir`` entry alone does not do that: packages found by
``packages.find`` only come from folders below ``mixedlm/``, so the mapped package has to
be added to the package list by hand, which pyproject.toml cannot express next to
``find``. Listing it here works for ``pip install .`` (files copied into the wheel)
and for ``pip install -e .`` (setuptools' editable finder maps the name to ``datasets/``).
"""

from setuptools import find_namespace_packages, setup

packages = find_namespace_packages(
    include=["mixedlm", "mixedlm.*"], exclude=["*.__pycache__"]
)

setup(
    packages=[*packages, "mixedlm._datasets"],
    package_dir={"mixedlm._datasets": "datasets"},
    # py.typed: the package ships its type hints (PEP 561)
    package_data={"mixedlm": ["py.typed"], "mixedlm._datasets": ["*.csv", "schema.json"]},
)
