"""The package's shape: no import circles, and dependencies point down (cli -> indexing, watch,
review, training -> captioner, metadata, store -> model, photos), read from the source with `ast`."""

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
