"""The import graph of ``src/stockmesh``, read with ``ast`` (nothing is imported or run):

- no import circle between modules, of any length (an import inside a function counts: it runs
  too, later; so does one under ``if TYPE_CHECKING:``: the two modules still need each other);
- only ``bootstrap.py`` and the ``ledger`` package know the concrete stores (``MemoryEventStore``,
  ``SqliteEventStore``, ``PostgresEventStore`` and their modules): everything else asks for a port;
- no file above ``MAX_LINES`` lines unless its module docstring says why it is one piece, with a
  paragraph that starts with ``One piece:`` and gives the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "stockmesh"
MAX_LINES = 600
ONE_PIECE = "one piece:"
CONCRETE_MODULES = {"stockmesh.ledger.memory", "stockmesh.ledger.sqlite", "stockmesh.ledger.postgres"}
CONCRETE_NAMES = {"MemoryEventStore", "SqliteEventStore", "PostgresEventStore"}
MAY_KNOW_CONCRETE = ("stockmesh.bootstrap", "stockmesh.ledger")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside a function, class or ``if``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            stack.extend(ast.iter_child_nodes(node))


def _imports(module: str, path: Path) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for each import of ``module``'s own package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base]) if base else ".".join(anchor)
        for alias in node.names:
            yield base, alias.name, node.lineno


def _edges() -> dict[str, dict[str, int]]:
    """module -> {module of stockmesh it imports: line}; ``from pkg import sub`` counts as ``pkg.sub``."""
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for base, name, line in _imports(module, path):
            target = f"{base}.{name}" if name and f"{base}.{name}" in MODULES else base
            while target and target not in MODULES:  # `import stockmesh.a.b.name` -> the module part
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    arrows = [f"{a} -> {b} (line {line})" for a in component for b, line in sorted(graph[a].items())
              if b in members]
    return "; ".join(arrows)


def test_no_import_circle_between_modules() -> None:
    graph = _edges()
    circles = [_describe(component, graph) for component in _cycles(graph)]
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_only_bootstrap_and_the_ledger_know_the_concrete_stores() -> None:
    found = []
    for module, path in MODULES.items():
        if any(module == m or module.startswith(m + ".") for m in MAY_KNOW_CONCRETE):
            continue
        for base, name, line in _imports(module, path):
            target = f"{base}.{name}" if name else base
            if base in CONCRETE_MODULES or target in CONCRETE_MODULES or name in CONCRETE_NAMES:
                found.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert found == [], "concrete stores outside bootstrap.py and ledger/:\n" + "\n".join(found)


def _one_piece_reason(path: Path) -> str | None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for paragraph in doc.split("\n\n"):
        text = " ".join(paragraph.split())
        if text.lower().startswith(ONE_PIECE) and len(text) > len(ONE_PIECE) + 20:
            return text
    return None


def test_no_file_above_the_line_limit_without_a_reason() -> None:
    too_long = []
    for path in MODULES.values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and _one_piece_reason(path) is None:
            too_long.append(f"{path.relative_to(SRC)}: {lines} lines")
    assert too_long == [], (f"files above {MAX_LINES} lines whose docstring has no 'One piece: <why>' "
                            "paragraph:\n" + "\n".join(too_long))


def test_the_checks_see_what_they_look_for() -> None:
    """The scan itself: it finds the modules, a lazy import and a relative one."""
    graph = _edges()
    assert len(MODULES) > 100 and "stockmesh.bootstrap" in MODULES
    assert any("stockmesh.ledger.sqlite" in targets for module, targets in graph.items()
               if module == "stockmesh.bootstrap")
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []
