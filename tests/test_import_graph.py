"""No import cycles between secomp's modules, so a new one fails here and not as a
half-initialised module at some user's first import.

Every import counts: module-level and inside functions, absolute and relative. Importing
`a.b.c` also runs the package `a.b`'s __init__, so an import is an edge to the module and to
each package above it (except the importer's own packages, which are already running).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "secomp"

# lower layers that must not import the higher ones (importer, imported module prefix)
LAYERS = [
    ("secomp.io.format", "secomp.io.modelio"),  # .secomp files sit below model files
    ("secomp.structure", "secomp.models"),  # models use structure, never the other way
]


def modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (p, is_pkg)
    return out


def _resolve(name: str, mods: dict) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported secomp module: line of the first such import}."""
    mods = modules()
    edges: dict[str, dict[str, int]] = {m: {} for m in mods}
    for m, (path, is_pkg) in mods.items():
        pkg = m if is_pkg else m.rpartition(".")[0]
        own = {".".join(m.split(".")[: i + 1]) for i in range(m.count(".") + 1)}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base_name = ".".join(base + ([node.module] if node.module else []))
                else:
                    base_name = node.module or ""
                targets = [
                    f"{base_name}.{a.name}" if f"{base_name}.{a.name}" in mods else base_name
                    for a in node.names
                ]
            else:
                continue
            for t in targets:
                r = _resolve(t, mods) if t.split(".")[0] == "secomp" else None
                if r is None or r == m:
                    continue
                parts = r.split(".")
                for i in range(1, len(parts) + 1):
                    target = ".".join(parts[:i])
                    if target in mods and target not in own:
                        edges[m].setdefault(target, node.lineno)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    edges = import_graph()
    assert len(edges) > 30 and "secomp.structure.layers" in edges
    report = []
    for comp in cycles(edges):
        links = [
            f"{a} -> {b} (line {edges[a][b]})" for a in comp for b in edges[a] if b in comp
        ]
        report.append("cycle: " + "; ".join(links))
    assert not report, "\n".join(report)


def test_lower_layers_do_not_import_higher_ones():
    edges = import_graph()
    bad = [
        f"{m} imports {t} (line {line})"
        for low, high in LAYERS
        for m in edges
        if m == low or m.startswith(low + ".")
        for t, line in edges[m].items()
        if t == high or t.startswith(high + ".")
    ]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_cycle():
    """The checker itself: a cycle through a function-level import and one through a package
    __init__ are both found."""
    edges = {
        "secomp.a": {"secomp.b": 1},
        "secomp.b": {"secomp.a": 3},
        "secomp.c": {},
    }
    assert cycles(edges) == [["secomp.a", "secomp.b"]]
    assert cycles({"x": {"y": 1}, "y": {}}) == []
