"""The import rule of ARCHITECTURE.md: each module of src/latentforge belongs to one layer
and imports only modules of its own layer or of lower layers. The layer table is read from
ARCHITECTURE.md itself, so the document and the code cannot drift apart."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "latentforge"
# The two upward imports ARCHITECTURE.md names, both inside functions.
ALLOWED_UPWARD = {("registry", "models"), ("data.codings", "api")}


def layer_table() -> dict[str, int]:
    """{"viz.report": 0, "models": 2, ...} from the "| layer | modules |" table."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = {}
    for number, modules in re.findall(r"^\| (\d) \| ([a-z_. ]+) \|", text, re.M):
        for module in modules.split():
            assert module not in table, f"{module} is in two layers"
            table[module] = int(number)
    assert table, "ARCHITECTURE.md has no layer table"
    return table


def module_name(path: Path) -> str:
    """src/latentforge/viz/report.py -> "viz.report"; the package root -> "latentforge"."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "latentforge"


def imported(path: Path) -> set[str]:
    """The latentforge modules `path` imports (top level or lazily), as module names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == "latentforge.__version__":
                continue  # the root package's constant: layer 0 by the document
            if name.startswith("latentforge."):
                found.add(_existing_module(name[len("latentforge."):]))
            elif name == "latentforge":
                found.add("latentforge")
    return found


def _existing_module(dotted: str) -> str:
    """The longest prefix of `dotted` that is a module or package of the source tree
    (`from latentforge.viz import figures` names viz.figures; `from x import func` names x)."""
    parts = dotted.split(".")
    while parts:
        candidate = PACKAGE.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return "latentforge"


def layer_of(module: str, table: dict[str, int]) -> int:
    """The layer of the most specific table entry that is `module` or a parent of it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in table:
            return table[key]
    raise AssertionError(f"ARCHITECTURE.md's layer table does not place '{module}'")


def test_every_module_imports_only_its_layer_or_lower():
    table = layer_table()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        own = layer_of(source, table)
        for target in sorted(imported(path)):
            if layer_of(target, table) > own and not _allowed(source, target):
                wrong.append(f"{source} (layer {own}) imports {target} "
                             f"(layer {layer_of(target, table)})")
    assert not wrong, "imports against the layer rule:\n" + "\n".join(wrong)


def _allowed(source: str, target: str) -> bool:
    return any(source.startswith(s) and target.startswith(t) for s, t in ALLOWED_UPWARD)


def test_the_rule_sees_a_violation():
    """The walker finds imports inside functions and resolves `from pkg import module`."""
    table = layer_table()
    found = imported(PACKAGE / "registry.py")
    assert "models" in found  # the lazy import of the built-in models
    assert layer_of("viz.report", table) < layer_of("viz.maps", table)
    assert layer_of("cli.main", table) == max(table.values())
