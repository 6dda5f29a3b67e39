"""The package's shape: no import circles, and dependencies point down (cli -> indexing, watch,
review, training -> captioner, metadata, store -> model, photos); only store/ talks SQL (imports
sqlalchemy); no module over MAX_LINES lines but the listed exemptions. Read from the source with
`ast`."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"photocap": REPO / "photocap", "photocap.training": REPO / "training"}

# Layer of each module by its longest matching prefix; a module never imports a higher layer.
LAYERS = {
    "photocap": 0,  # __version__; its public API loads lazily
    "photocap.errors": 0,
    "photocap.paths": 0,
    "photocap.photos": 0,
    "photocap.model": 0,
    "photocap.captioner": 1,
    "photocap.metadata": 1,
    "photocap.store": 1,
    "photocap.evaluation": 2,
    "photocap.indexing": 2,
    "photocap.watch": 2,
    "photocap.review": 2,
    "photocap.training": 2,
    "photocap.cli": 3,
    "photocap.__main__": 3,
}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            parts = [p for p in file.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = file
    return found


def _type_checking_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`) exactly: a test such as `not TYPE_CHECKING`
    or `TYPE_CHECKING or DEBUG` runs its body, so its imports count."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node, in functions and classes too, except those under `if TYPE_CHECKING:`
    (annotations only, never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, file: Path, known: dict[str, Path]) -> set[str]:
    """The photocap modules `name` imports at run time (at the top or inside functions)."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.level else [node.module or ""])
            submodules = {f"{module}.{a.name}" for a in node.names} & set(known)
            found.update(submodules or {module})  # `from pkg import submodule` needs only that
    return {m for m in found if m in known and m != name}


def sqlalchemy_imports(file: Path) -> list[int]:
    """Lines where `file` imports sqlalchemy (or a part of it) at run time, in functions too."""
    lines = []
    for node in _runtime_nodes(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in names):
            lines.append(node.lineno)
    return sorted(lines)


def layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    return {name: imports_of(name, file, known) for name, file in known.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (its first module again at the end), None when there is none."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for child in sorted(graph[name]):
            if (cycle := visit(child, [*path, name])) is not None:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        if (cycle := visit(name, [])) is not None:
            return cycle
    return None


def test_no_import_circles() -> None:
    cycle = find_circle(import_graph(modules()))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_dependencies_point_down() -> None:
    known = modules()
    upward = [
        f"{name} (layer {layer(name)}) imports {other} (layer {layer(other)})"
        for name, file in sorted(known.items())
        for other in sorted(imports_of(name, file, known))
        if layer(other) > layer(name)
    ]
    assert not upward, "\n".join(upward)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A circle and an upward import written into a scratch package are both found, also when
    the import is inside a function or a method; only `if TYPE_CHECKING:` is exempt."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("import photocap.b\n")
    b.write_text("def f():\n    from photocap import a\n")
    known = {"photocap.a": a, "photocap.b": b}
    assert imports_of("photocap.a", a, known) == {"photocap.b"}
    assert imports_of("photocap.b", b, known) == {"photocap.a"}
    assert find_circle(import_graph(known)) == ["photocap.a", "photocap.b", "photocap.a"]
    method = tmp_path / "d.py"
    method.write_text("class C:\n    def m(self):\n        if x:\n            import photocap.a\n")
    assert imports_of("photocap.d", method, {**known, "photocap.d": method}) == {"photocap.a"}
    typed = tmp_path / "c.py"
    typed.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import photocap.a\n")
    assert imports_of("photocap.c", typed, {**known, "photocap.c": typed}) == set()
    for test in ("not TYPE_CHECKING", "TYPE_CHECKING or DEBUG"):
        typed.write_text(f"if {test}:\n    import photocap.a\n")
        assert imports_of("photocap.c", typed, {**known, "photocap.c": typed}) == {"photocap.a"}
    typed.write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import photocap.a\n"
    )
    assert imports_of("photocap.c", typed, {**known, "photocap.c": typed}) == {"photocap.a"}
    assert find_circle({"photocap.a": {"photocap.b"}, "photocap.b": set()}) is None
    assert layer("photocap.cli.search") > layer("photocap.store.search")


# Nothing outside store/ writes SQL (docs/architecture.md, step 7): importing SQLAlchemy is where it
# would start.
SQL_HOME = "photocap.store"


def test_only_the_store_imports_sqlalchemy() -> None:
    found = [
        f"{name} ({file.relative_to(REPO)}:{line}) imports sqlalchemy: move the query into "
        "photocap/store/ and call it"
        for name, file in sorted(modules().items())
        if not (name == SQL_HOME or name.startswith(SQL_HOME + "."))
        for line in sqlalchemy_imports(file)
    ]
    assert not found, "\n".join(found)


MAX_LINES = 400  # a module over this usually holds two ideas: split it by idea
# Modules allowed over MAX_LINES, each with its reason. An entry whose module is back under the
# limit (or gone) is stale and fails the test: remove it.
LONG_MODULES = {
    # recipes: one-off scripts that re-create shipped data, read top to bottom (training/recipes/)
    "photocap.training.recipes.object_words": "recipe: builds the shipped object-word table",
    "photocap.training.recipes.imagenet_words_review": "recipe: the reviewed ImageNet word table",
}


def line_count(file: Path) -> int:
    return len(file.read_text(encoding="utf-8").splitlines())


def test_no_module_over_max_lines_but_the_listed_ones() -> None:
    known = modules()
    long = {name: n for name, file in known.items() if (n := line_count(file)) > MAX_LINES}
    unlisted = [
        f"{name} ({known[name].relative_to(REPO)}): {n} lines > {MAX_LINES}: split it by idea"
        for name, n in sorted(long.items())
        if name not in LONG_MODULES
    ]
    stale = [
        f"{name}: listed in LONG_MODULES but not over {MAX_LINES} lines (any more): remove it"
        for name in sorted(LONG_MODULES)
        if name not in long
    ]
    assert not unlisted and not stale, "\n".join(unlisted + stale)


def test_the_sqlalchemy_and_length_checks_can_fail(tmp_path: Path) -> None:
    """Imports of sqlalchemy are found at the top, in functions and under a false-friend test;
    `if TYPE_CHECKING:` and relative imports are not counted; lines are counted as an editor does."""
    file = tmp_path / "m.py"
    file.write_text(
        "import sqlalchemy.exc\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy import Engine\n"
        "def f():\n"
        "    from sqlalchemy import select\n"
        "    import sqlalchemyish, os\n"
        "    from .sqlalchemy import x\n"
        "if not TYPE_CHECKING:\n"
        "    import os, sqlalchemy\n"
    )
    assert sqlalchemy_imports(file) == [1, 6, 10]
    assert line_count(file) == 10
