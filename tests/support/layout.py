"""The layer's rooms and their order, and a reader of who imports whom (lazy and TYPE_CHECKING imports count)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Lowest first: a module may import its own room and the rooms below it, never one above.
ROOMS = ("domain", "config", "adapters", "usecases", "wiring", "edges")
PACKAGE = "zoho_aep"
# Third-party packages that do I/O: the domain is plain values and rules, and imports none of them.
IO_PACKAGES = ("boto3", "botocore", "requests", "urllib3", "aws_lambda_powertools")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import in ``path`` (at any depth: inside functions and ``if TYPE_CHECKING`` too)."""
    name = module_name(root, path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append(Import(name, target, node.lineno))
            # ``from pkg import module`` imports that module too
            found += [Import(name, f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def room_of(module: str) -> str | None:
    """The room a module of the package belongs to (None: not the package's)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "domain"  # the package's own __init__: a docstring and a version
    if parts[1] == "__main__":
        return "edges"
    return parts[1]  # a room, or a module outside every room (the check says so)


def graph(root: Path) -> dict[str, list[Import]]:
    """The package's modules and the imports of each (only those that name a module of the package)."""
    files = {module_name(root, p): p for p in (root / PACKAGE).rglob("*.py")}
    result: dict[str, list[Import]] = {}
    for module, path in files.items():
        result[module] = [i for i in imports_of(root, path) if i.imported in files]
    return result


def upward_imports(root: Path) -> list[str]:
    """Each import that goes up (a lower room importing a higher one), or into a room that is not known."""
    problems: list[str] = []
    for module, imports in graph(root).items():
        mine = room_of(module)
        if mine not in ROOMS:
            problems.append(f"{module}: not in a room ({', '.join(ROOMS)})")
            continue
        for item in imports:
            theirs = room_of(item.imported)
            if theirs not in ROOMS or ROOMS.index(theirs) > ROOMS.index(mine):
                problems.append(f"{module}:{item.line} ({mine}) imports {item.imported} ({theirs})")
    return problems


def io_in_domain(root: Path) -> list[str]:
    """Imports of I/O libraries by the domain."""
    problems: list[str] = []
    for path in (root / PACKAGE / "domain").rglob("*.py"):
        for item in imports_of(root, path):
            if item.imported.split(".")[0] in IO_PACKAGES:
                problems.append(f"{item.importer}:{item.line} imports {item.imported}")
    return problems


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between the package's modules (each cycle once, as the path that closes it)."""
    edges = {m: sorted({i.imported for i in imports if i.imported != m}) for m, imports in graph(root).items()}
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in edges.get(module, []):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    return found


def imports_of_tests(folders: list[Path], root: Path) -> list[str]:
    """Imports of ``tests`` (or anything below it) by modules outside ``tests/``."""
    problems: list[str] = []
    for folder in folders:
        for path in folder.rglob("*.py"):
            for item in imports_of(root, path):
                if item.imported == "tests" or item.imported.startswith("tests."):
                    problems.append(f"{path.relative_to(root)}:{item.line} imports {item.imported}")
    return problems
