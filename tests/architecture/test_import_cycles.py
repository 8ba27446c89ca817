"""No two modules of dfr import each other, directly or through others.

import-linter (run by `make test`) keeps the packages in their floors; this
keeps the files within a package in an order too. Imports under
`TYPE_CHECKING` are left out: they never run.
"""

from __future__ import annotations

import grimp

PACKAGES = ("missions", "stations", "dfr", "web", "sitl")


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.split(".")[0] not in PACKAGES:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    assert module_cycles(graph) == []


def test_a_cycle_is_found() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("dfr.a", "dfr.b"), ("dfr.b", "dfr.c"), ("dfr.c", "dfr.a"), ("dfr.c", "dfr.d")):
        graph.add_import(importer=a, imported=b)
    assert module_cycles(graph) == [["dfr.a", "dfr.b", "dfr.c"]]
