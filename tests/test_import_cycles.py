"""No import cycles between initlab's modules (issue 17: the old trainers.py <-> shards.py cycle, and
dd_engine.py reaching `init_` through the package root).

Checked on the source: the module-level imports of every file (those inside `if`/`try` at module level
included; imports inside functions run late and are the usual way to break a cycle, so they are exempt, as
are `if TYPE_CHECKING:` blocks).  A package's own `__init__` importing its submodules is not a cycle; a
submodule importing its package's `__init__` back, or two modules importing each other, is."""
from __future__ import annotations

from pathlib import Path

from tests._imports import package_imports

PKG = Path(__file__).resolve().parents[1] / "src" / "initlab"


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """module -> the package's modules it imports at module level."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for _, base, names in package_imports(path, root, top_level=True):
            mod = ".".join([root.name, *base])
            # `from pkg import sub` imports the submodule; `from mod import obj` only mod
            deps.update(f"{mod}.{n}" if f"{mod}.{n}" in files else mod for n in names or [None])
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_module_level_import_cycles():
    graph = import_graph()
    assert len(graph) > 100 and "initlab.experiments.engine.fit" in graph
    assert cycles(graph) == []


def test_the_checker_finds_a_two_module_cycle_and_ignores_lazy_imports(tmp_path):
    pkg = tmp_path / "initlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import a\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("try:\n    from .a import X\nexcept ImportError:\n    X = None\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from .a import X\n")
    (pkg / "sub" / "d.py").write_text("from .c import f\n")
    g = import_graph(pkg)
    assert g["initlab.sub.c"] == set() and g["initlab.sub.d"] == {"initlab.sub.c"}
    assert cycles(g) == [["initlab.sub.a", "initlab.sub.b"]]
