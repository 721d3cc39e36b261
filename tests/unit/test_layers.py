"""closeloop's lower layers never import training: only the demo and the CLI, which drive the loop, may.

training builds on closeloop, not the reverse, and the Flink image ships
closeloop without training. Read from the sources (ast), so an import inside a
function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import closeloop

_PACKAGE = Path(closeloop.__file__).parent
_UPPER = "training"
#: Modules of closeloop that may import training: the demo package and the CLI (a module or a package).
_ALLOWED = ("demo/", "cli.py", "cli_", "cli/")
#: Calls that import a module named by a string.
_DYNAMIC = {"import_module", "import_string", "__import__"}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in ``tree``, including import_module("…") with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in _DYNAMIC and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def _imports_upper(module: str) -> bool:
    return module == _UPPER or module.startswith(f"{_UPPER}.")


def _violations() -> list[str]:
    out = []
    for path in sorted(_PACKAGE.rglob("*.py")):
        relative = path.relative_to(_PACKAGE).as_posix()
        if relative.startswith(_ALLOWED):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        out += [
            f"closeloop/{relative}:{line} imports {module}"
            for line, module in _imports(tree)
            if _imports_upper(module)
        ]
    return out


def test_lower_layers_do_not_import_training() -> None:
    assert _violations() == []


def test_the_scan_sees_training_imports_where_they_are_allowed() -> None:
    """Not vacuous: the CLI and the demo do import training, and the scan finds it."""
    seen = {
        path.relative_to(_PACKAGE).as_posix()
        for path in _PACKAGE.rglob("*.py")
        if any(_imports_upper(m) for _, m in _imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert "cli.py" in seen
    assert any(name.startswith("demo/") for name in seen)


def test_every_kind_of_import_is_caught() -> None:
    source = """
import training
import training.usecases as uc
from training.usecases import get_use_case
from trainingwheels import x
from . import training
def late():
    from training.train import train
    importlib.import_module("training.usecases.digits")
"""
    modules = sorted(m for _, m in _imports(ast.parse(source)) if _imports_upper(m))
    assert modules == [
        "training",
        "training.train",
        "training.usecases",
        "training.usecases",
        "training.usecases.digits",
    ]
