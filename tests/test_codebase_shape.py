"""The codebase's shape (issues 14 and 23), read from the real tree with ast: no product module reaches into
another of our modules for an underscore-prefixed name, the protocol version is assigned in one place, no product
file is over 450 lines, no product modules import each other in a circle (imports inside functions and under
TYPE_CHECKING count), and no product folder holds more than 15 modules. Product: what the extension zip and the
engine ship.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO

PACKAGES = ("engine", "nst_addon", "farm", "protocol")
PRODUCT_FILES = [REPO / "__init__.py", REPO / "scripts" / "blender_batch.py"]
MAX_LINES = 450
MAX_MODULES_PER_FOLDER = 15


def product_files() -> list[Path]:
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             if "__pycache__" not in path.parts]
    return files + PRODUCT_FILES


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module a from-import reads from, relative imports resolved against `path`."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def is_module(dotted: str) -> bool:
    path = REPO.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def private_reaches(path: Path, source: str | None = None) -> list[str]:
    """Each place module `path` (its text: `source`, or the file's) takes an underscore-prefixed name from another
    of our modules: `from m import _x`, or `m._x` / `package.m._x` where `m` was imported as a module."""
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    found, modules = [], {}  # local name -> our module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_ours(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    modules[local] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = absolute(node, path)
            if not is_ours(source):
                continue
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: from {source} import {alias.name}")
                elif is_module(f"{source}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in modules:
                module = ".".join([modules[value.id], *chain])
                if module != module_name(path) and is_module(module):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {module}.{node.attr}")
    return found


def imports_of(path: Path, source: str | None = None) -> set[str]:
    """Our modules that module `path` imports anywhere in its text: `from m import x` reads m.x where that is a
    module, else m; `import a.b` reads a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if is_ours(alias.name)}
        elif isinstance(node, ast.ImportFrom) and is_ours(source_module := absolute(node, path)):
            found |= {f"{source_module}.{alias.name}" if is_module(f"{source_module}.{alias.name}") else source_module
                      for alias in node.names}
    return found - {module_name(path)}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm): each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in graph:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_the_product_is_what_this_test_reads():
    files = product_files()
    assert all(path.is_file() for path in files)
    assert {module_name(path).split(".")[0] for path in files} >= set(PACKAGES)


def test_no_module_takes_a_private_name_from_another():
    reaches = [place for path in product_files() for place in private_reaches(path)]
    assert not reaches, "private names used across modules:\n" + "\n".join(reaches)


def test_the_protocol_version_is_assigned_in_one_place():
    places = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AnnAssign, ast.AugAssign)) else []
            if any(isinstance(t, ast.Name) and t.id == "PROTOCOL_VERSION" for t in targets):
                places.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert len(places) == 1, places


def test_no_product_file_is_over_450_lines():
    long = {str(path.relative_to(REPO)): n for path in product_files()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_no_product_modules_import_each_other_in_a_circle():
    graph = {module_name(path): imports_of(path) for path in product_files()}
    assert graph["engine.stylize"] >= {"engine.optimizer.degrade"}  # the graph is the real one
    circles = import_circles(graph)
    assert not circles, "import circles (give the shared concept one owner):\n" + "\n".join(map(" <-> ".join, circles))


def test_no_product_folder_holds_more_than_15_modules():
    folders = {path.parent for path in product_files() if path.relative_to(REPO).parts[0] in PACKAGES}
    assert REPO / "engine" in folders and REPO / "nst_addon" / "ui" in folders
    crowded = {str(folder.relative_to(REPO)): n for folder in folders
               if (n := len(list(folder.glob("*.py")))) > MAX_MODULES_PER_FOLDER}
    assert not crowded, f"over {MAX_MODULES_PER_FOLDER} modules at a folder's top level: {crowded}"


def test_the_circle_check_sees_imports_inside_functions():
    """The check itself: an import inside a function closes a circle as much as one at the top."""
    probe = REPO / "engine" / "optimizer" / "shape_probe.py"
    imported = imports_of(probe, "from . import losses\ndef f():\n    from ..imageio.images import read_rgb\n")
    assert imported == {"engine.optimizer.losses", "engine.imageio.images"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_circles(graph) == [["a", "b", "c"]]
    assert import_circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("source, expected", [
    ("from engine.stylize import _grid\n", ["engine.stylize import _grid"]),
    ("from .texture import _sample as sample\n", ["engine.texture import _sample"]),
    ("from engine import stylize\nstylize._private(1)\n", ["engine.stylize._private"]),
    ("import engine.stylize\nengine.stylize._x\n", ["engine.stylize._x"]),
    ("from engine.stylize import to_tensor\nimport os\nos._exit\nx = to_tensor.__name__\n", []),
])
def test_the_private_name_check_sees_each_way_in(source, expected):
    """The check itself, on small module texts as if in engine/: each way of reaching a private name is seen, and a
    public name, a dunder or another library's private name is not."""
    found = private_reaches(REPO / "engine" / "shape_probe.py", source)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found


def test_the_imports_the_docs_show_work():
    """Every `from engine... import ...` line in the README and docs/ imports (the public names kept their paths)."""
    import importlib
    import re

    lines = {line.strip() for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
             for line in doc.read_text().splitlines() if re.match(r"\s*from engine[\w.]* import \w", line)}
    assert "from engine.stylize import StyleTransfer" in lines
    for line in sorted(lines):
        module, names = re.match(r"from (\S+) import (.+)", line).groups()
        imported = importlib.import_module(module)
        missing = [n.strip() for n in names.split("#")[0].strip("() ").split(",") if not hasattr(imported, n.strip())]
        assert not missing, f"{line}: {missing}"
