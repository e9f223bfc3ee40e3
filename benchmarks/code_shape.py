"""Measure the shape of the package's code: module and function sizes, import cycles, private imports.

Every ``.py`` file under ``--package`` is parsed with :mod:`ast` (nothing is imported, so an older checkout
can be measured too) and the numbers below are written as JSON to ``--out``; a short summary is printed.

Output
------
modules : dict
    Physical lines per module file; ``total_lines`` is their sum, ``largest_module`` the longest file.
longest_function, most_parameters : dict
    The function or method spanning the most lines (``def`` line to ``end_lineno``, decorators excluded)
    and the one with the most parameters. ``qualname`` reads ``Class.method`` or ``outer.<locals>.inner``;
    ``parameters`` counts positional-only, positional and keyword-only parameters, ``*args`` and
    ``**kwargs`` each as one (``self`` included).
imports : dict
    The package modules each module imports, over every import statement (inside functions too). An edge
    points at the module the statement names: ``from .backends import x`` at ``brainlz.backends`` (its
    ``__init__.py``), ``from . import lzc`` at ``brainlz.lzc``; parent packages that Python runs
    implicitly are not edges, nor are self-imports, compiled extensions or ``importlib`` calls.
cycles_all, cycles_module_level : dict
    Import cycles: strongly connected components of more than one module (``count``, ``components``),
    over all imports and over those that run at import time (not in a function, not under
    ``if TYPE_CHECKING``).
private_imports : dict
    Each ``from <package module> import _name`` (one leading underscore, not a dunder) in a module other
    than the source: ``importer``, ``source``, ``name``, ``line`` and ``submodule`` (true when ``_name`` is a private
    submodule, e.g. a compiled extension, rather than a name defined in the source). ``count`` counts
    all of them, ``count_names`` those that are not submodules.
all_exports : dict
    ``__all__`` length per module defining one, their ``total``, and ``package_exports``: the ``__all__``
    of the package's ``__init__.py``.

Usage::

    python benchmarks/code_shape.py [--package brainlz] [--out benchmarks/results/code_shape.json]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from brainlz.files import write_json

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def functions(tree: ast.Module, prefix: str = ""):
    """Yield ``(qualname, node)`` for every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, FUNCTIONS):
            yield prefix + node.name, node
            yield from functions(node, f"{prefix}{node.name}.<locals>.")
        else:
            yield from functions(node, f"{prefix}{node.name}." if isinstance(node, ast.ClassDef) else prefix)


def parameter_count(node) -> int:
    args = node.args
    return len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + (args.vararg is not None) + (
        args.kwarg is not None)


def imports(nodes, at_import_time: bool = True):
    """Yield ``(statement, at_import_time)`` for every import statement among ``nodes`` and below."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, at_import_time
        elif isinstance(node, FUNCTIONS):
            yield from imports(node.body, False)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from imports(node.body, False)
            yield from imports(node.orelse, at_import_time)
        else:
            yield from imports(ast.iter_child_nodes(node), at_import_time)


class Package:
    def __init__(self, directory: Path):
        self.directory = directory
        self.paths = {self.module_name(path): path for path in sorted(directory.rglob("*.py"))}
        self.trees = {name: ast.parse(path.read_text(), str(path)) for name, path in self.paths.items()}

    def module_name(self, path: Path) -> str:
        parts = [self.directory.name, *path.relative_to(self.directory).with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def relative(self, module: str) -> str:
        return self.paths[module].relative_to(self.directory.parent).as_posix()

    def known(self, dotted: str | None) -> str | None:
        """The package module that ``dotted`` names, or its nearest enclosing one; None outside the package."""
        while dotted and dotted not in self.paths:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def is_submodule(self, package: str, name: str) -> bool:
        path = self.paths[package]
        return path.name == "__init__.py" and (any(path.parent.glob(name + ".*")) or (path.parent / name).is_dir())

    def edges(self, importer: str, statement):
        """``(imported module, source module, name)`` per name bound; the module is None outside the package
        or for a compiled submodule, ``source`` and ``name`` are None for ``import x``."""
        if isinstance(statement, ast.Import):
            return [(self.known(alias.name), None, None) for alias in statement.names]
        source = statement.module
        if statement.level:
            package = importer if self.paths[importer].name == "__init__.py" else importer.rpartition(".")[0]
            base = package.rsplit(".", statement.level - 1)[0]
            source = f"{base}.{source}" if source else base
        source = self.known(source)
        if source is None:
            return []
        return [(f"{source}.{alias.name}" if f"{source}.{alias.name}" in self.paths
                 else None if self.is_submodule(source, alias.name) else source, source, alias.name)
                for alias in statement.names]


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one node, each sorted, in sorted order."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(component for component in components if len(component) > 1)


def all_names(tree: ast.Module) -> list[str] | None:
    """The module's ``__all__`` (literal assignments and ``+=`` at module level), or None without one.

    A starred element ``*NAME`` counts the keys (or items) of a module-level literal ``NAME = {...}``.
    """
    literals, names = {}, None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets) and node.value:
            value = []
            for element in getattr(node.value, "elts", []):
                if isinstance(element, ast.Starred) and isinstance(element.value, ast.Name):
                    value += list(literals.get(element.value.id, ()))
                else:
                    value.append(ast.literal_eval(element))
            names = (names or []) + value if isinstance(node, ast.AugAssign) else value
        elif isinstance(node, ast.Assign) and len(targets) == 1 and isinstance(targets[0], ast.Name):
            try:
                literals[targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return names


def measure(package: Package) -> dict:
    lines = {package.relative(name): len(path.read_text().splitlines()) for name, path in package.paths.items()}
    spans = [{"path": package.relative(module), "qualname": qualname, "lines": node.end_lineno - node.lineno + 1,
              "parameters": parameter_count(node)}
             for module, tree in package.trees.items() for qualname, node in functions(tree)]
    graph_all = {module: set() for module in package.paths}
    graph_module_level = {module: set() for module in package.paths}
    private = []
    for importer, tree in package.trees.items():
        for statement, at_import_time in imports(tree.body):
            for target, source, name in package.edges(importer, statement):
                if target and target != importer:
                    graph_all[importer].add(target)
                    if at_import_time:
                        graph_module_level[importer].add(target)
                if name and is_private(name) and source != importer:
                    private.append({"importer": importer, "source": source, "name": name,
                                    "submodule": package.is_submodule(source, name), "line": statement.lineno})
    exports = {module: names for module, names in ((module, all_names(tree)) for module, tree in package.trees.items())
               if names is not None}
    cycles = {kind: {"count": len(components), "components": components}
              for kind, components in (("cycles_all", strongly_connected_components(graph_all)),
                                       ("cycles_module_level", strongly_connected_components(graph_module_level)))}
    largest = max(lines, key=lines.get)
    return {
        "package": str(package.directory),
        "modules": {"count": len(lines), "total_lines": sum(lines.values()),
                    "largest_module": {"path": largest, "lines": lines[largest]}, "lines": lines},
        "longest_function": max(spans, key=lambda span: span["lines"]),
        "most_parameters": max(spans, key=lambda span: span["parameters"]),
        "imports": {module: sorted(targets) for module, targets in graph_all.items()},
        **cycles,
        "private_imports": {"count": len(private), "count_names": sum(not item["submodule"] for item in private),
                            "imports": private},
        "all_exports": {"total": sum(map(len, exports.values())),
                        "per_module": {module: len(names) for module, names in exports.items()},
                        "package_exports": exports.get(package.directory.name, [])},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=ROOT / "brainlz", help="package directory to measure")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "code_shape.json")
    args = parser.parse_args(argv)
    results = measure(Package(args.package.resolve()))
    modules, largest = results["modules"], results["modules"]["largest_module"]
    print(f"modules          : {modules['count']}, {modules['total_lines']} lines; largest {largest['path']} "
          f"({largest['lines']} lines)")
    for label, key in (("longest function", "longest_function"), ("most parameters ", "most_parameters")):
        span = results[key]
        print(f"{label} : {span['path']}::{span['qualname']} ({span['lines']} lines, {span['parameters']} parameters)")
    for label, kind in (("cycles (all)    ", "cycles_all"), ("cycles (module) ", "cycles_module_level")):
        print(f"{label} : {results[kind]['count']}" + "".join(
            f"\n    {' <-> '.join(component)}" for component in results[kind]["components"]))
    private = results["private_imports"]
    print(f"private imports  : {private['count']} ({private['count_names']} names, "
          f"{private['count'] - private['count_names']} private submodules)")
    exports = results["all_exports"]
    print(f"__all__ names    : {exports['total']} over {len(exports['per_module'])} modules; package exports "
          f"{', '.join(exports['package_exports'])}")
    print(f"written to {write_json(args.out, results, make_parents=True)}")
    return results


if __name__ == "__main__":
    main()
