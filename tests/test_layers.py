"""The layer order (README, initlab/__init__): each layer imports only the layers before it.

    errors -> schemes -> policy -> diagnostics -> experiments (with data, models) -> reports -> cli, web

Checked on the source (AST, every import statement, lazy ones inside functions included): a figure
drawn inside an experiment, or a policy reaching for diagnostics, fails here.  Type-checking-only
imports (`if TYPE_CHECKING:`) are exempt: they never run.  The package root (initlab/__init__.py) is
the public API on top of everything and is not checked."""
from __future__ import annotations

from pathlib import Path

from tests._imports import package_imports

PKG = Path(__file__).resolve().parents[1] / "src" / "initlab"
RANK = {"errors": 0, "schemes": 1, "policy": 2, "diagnostics": 3, "models": 4, "data": 4, "experiments": 5,
        "reports": 6, "cli": 7, "web": 7}


def _layer(parts: list[str]) -> str | None:
    """parts: a module path below initlab ('experiments', 'engine', ...) -> its layer name."""
    if not parts:
        return None
    head = parts[0].removesuffix(".py")
    return head if head in RANK else None


def imports_of(path: Path, root: Path = PKG) -> list[tuple[int, str]]:
    """(line, layer) of every initlab module `path` (a file under the package folder `root`) imports."""
    out = []
    for line, base, names in package_imports(path, root):
        for t in ([base] if base else [[n] for n in names]):     # `from . import x` at the root: x's layer
            layer = _layer(t)
            if layer is not None:
                out.append((line, layer))
    return out


def violations(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        own = _layer(list(path.relative_to(root).parts))
        if own is None:                     # the package root and its helpers: the API on top
            continue
        for line, layer in imports_of(path, root):
            if RANK[layer] > RANK[own]:
                bad.append(f"{path.relative_to(root)}:{line} ({own}) imports {layer}")
    return bad


def test_every_module_imports_only_earlier_layers():
    bad = violations()
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    # a lazy relative import of reports inside an experiment must be found (the check can fail)
    root = tmp_path / "initlab"
    (root / "experiments" / "reproduce").mkdir(parents=True)
    f = root / "experiments" / "reproduce" / "x.py"
    f.write_text("def run():\n    from ...reports.reproduce_plots import draw\n    import initlab.cli.main\n"
                 "    from ..engine import fit\n")
    assert sorted(layer for _, layer in imports_of(f, root)) == ["cli", "experiments", "reports"]
    assert len(violations(root)) == 2
