"""The import order of docs/design.md, made real: every module's imports (function bodies included)
go to its own layer or a lower one, with one deliberate exception, and nothing inside the package
imports the ``mixedlm`` facade.

Layers, lowest first (a module may import its own layer and those before it)::

    base       errors, arrays, threads, rprint          (leaf utilities; R printing)
    formula    formula                                 (parsing; the only formulaic importer)
    linalg     linalg                                  (storage types, kernels, Cholesky engines)
    design     design, datasets                        (frames, terms, cross-products, sdcor layout)
    engines    engines, families                       (LMM/GLMM/Bayesian objectives, families)
    optim      optim                                   (optimizers, derivatives, polish)
    fitting    fitting                                 (stages: build, objective, optimize; controls)
    results    results                                 (fitted models and their interface)
    frontends  lmer, glmer, statsmodels_style          (user entry points)
    inference  inference                               (anova, drop1, confint, profile, bootstrap, ...)
    plots      plots
    facade     mixedlm/__init__

The exception: methods of result objects forward to the layer that consumes them —
fitted-model methods to inference (``m.confint()`` → ``mixedlm.inference.confint``), a
profile's ``plot()`` to the plots — imported inside the method, as lme4's generics dispatch.
Cycles are refused too (the allowed forwarding edges aside).  The test would fail on any of
the upward imports that existed before the layers were enforced (e.g. ``inference.refit``
importing ``mixedlm.lmer``, ``inference.drop1`` importing the facade).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mixedlm"

LAYERS = [
    "base",
    "formula",
    "linalg",
    "design",
    "engines",
    "optim",
    "fitting",
    "results",
    "frontends",
    "inference",
    "plots",
    "facade",
]
PREFIX = {
    "mixedlm.errors": "base",
    "mixedlm.arrays": "base",
    "mixedlm.threads": "base",
    "mixedlm.rprint": "base",
    "mixedlm.formula": "formula",
    "mixedlm.linalg": "linalg",
    "mixedlm.design": "design",
    "mixedlm.datasets": "design",
    "mixedlm.engines": "engines",
    "mixedlm.families": "engines",
    "mixedlm.optim": "optim",
    "mixedlm.fitting": "fitting",
    "mixedlm.results": "results",
    "mixedlm.lmer": "frontends",
    "mixedlm.glmer": "frontends",
    "mixedlm.statsmodels_style": "frontends",
    "mixedlm.inference": "inference",
    "mixedlm.plots": "plots",
}
FRONT_ENDS = (
    "mixedlm.lmer",
    "mixedlm.glmer",
    "mixedlm.statsmodels_style.bayes_mixed_glm",
    "mixedlm.statsmodels_style.mixed_lm",
)


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def layer(module: str) -> str:
    if module == "mixedlm":
        return "facade"
    for prefix, name in sorted(PREFIX.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return name
    raise AssertionError(f"module {module} has no layer: add it to docs/design.md and to PREFIX here")


def imports(module: str) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every mixedlm import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "mixedlm" or target.startswith("mixedlm."):
                    names = [a.name for a in child.names]
                    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
                    if target == "mixedlm" and len(subs) < len(names):
                        found.append(("mixedlm", child.lineno, inside))  # a facade attribute
                    for t in subs or ([target] if target != "mixedlm" else []):
                        found.append((t, child.lineno, inside))
            elif isinstance(child, ast.Import):
                for a in child.names:
                    if a.name == "mixedlm" or a.name.startswith("mixedlm."):
                        found.append((a.name, child.lineno, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def _allowed(src: str, dst: str, in_function: bool) -> bool:
    """The deliberate upward edges: methods of result objects forwarding to the layer that consumes them
    (``fit.confint()`` → inference, ``profile.plot()`` → plots), imported inside the method."""
    return in_function and (layer(src), layer(dst)) in {("results", "inference"), ("inference", "plots")}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_no_upward_imports():
    bad = [v for src in MODULES for v in _violations(src)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_front_ends_are_imported_only_by_front_ends_and_the_facade():
    bad = [
        f"{src}:{line} imports {dst}"
        for src in MODULES
        for dst, line, _ in imports(src)
        if dst in FRONT_ENDS and layer(src) not in ("frontends", "facade")
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = {
        m: sorted({d for d, _, inside in imports(m) if d in MODULES and d != m and not _allowed(m, d, inside)})
        for m in MODULES
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                dfs(d)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _violations(src: str) -> list[str]:
    bad = []
    for dst, line, inside in imports(src):
        if dst == "mixedlm" and src != "mixedlm":
            bad.append(f"{src}:{line} imports the mixedlm facade")
        elif LAYERS.index(layer(dst)) > LAYERS.index(layer(src)) and not _allowed(src, dst, inside):
            bad.append(f"{src}:{line} ({layer(src)}) imports {dst} ({layer(dst)})")
    return bad


def test_the_check_catches_the_old_violations(tmp_path):
    """Imports inside function bodies and of the facade — how the old cycle was hidden — are caught."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def refit(fit):\n    import mixedlm as mlm\n    from mixedlm.lmer import lmer\n"
        "    from mixedlm.glmer import glmer\n"
    )
    MODULES["mixedlm.design.probe"] = probe
    try:
        found = imports("mixedlm.design.probe")
        bad = _violations("mixedlm.design.probe")
    finally:
        del MODULES["mixedlm.design.probe"]
    assert ("mixedlm", 2, True) in found and ("mixedlm.lmer", 3, True) in found
    assert len(bad) == 3 and "facade" in bad[0]
