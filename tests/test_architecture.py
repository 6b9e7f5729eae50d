"""ARCHITECTURE.md's import rule: at run time a layer imports only the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vp_bayes"
# The layers of ARCHITECTURE.md's table, top to bottom.
LAYERS = ("errors", "dims", "output", "readers", "instruments", "wave", "classic", "model",
          "selection", "scoring", "contrasts", "llm", "report", "cli", "api")
FRONT_DOOR = {"__init__", "__main__", "api"}  # vp_bayes/__init__.py and api.py: the last layer
# The one exception, named in ARCHITECTURE.md: calling the report package runs api.report.
EXCEPTIONS = {("report", "api")}


def _layer(parts: list[str]) -> str:
    """The layer of ``vp_bayes.<parts...>`` (a module path below the package)."""
    head = parts[0] if parts else "__init__"
    return "api" if head in FRONT_DOOR else head


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks (absolute ``vp_bayes.`` names)."""
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "vp_bayes":  # from vp_bayes import dims, __version__
                out.extend(f"vp_bayes.{a.name}" for a in node.names if a.name != "__version__")
            else:
                out.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [m for m in out if m == "vp_bayes" or m.startswith("vp_bayes.")]


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(list(path.relative_to(PACKAGE).with_suffix("").parts))
        assert layer.removesuffix(".py") in LAYERS, path


def test_layers_import_only_layers_above():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _layer(list(path.relative_to(PACKAGE).with_suffix("").parts))
        for name in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            there = _layer(name.split(".")[1:])
            if there == here or (here, there) in EXCEPTIONS:
                continue
            if LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{path.relative_to(PACKAGE)} ({here}) imports {name} ({there})")
    assert bad == []
