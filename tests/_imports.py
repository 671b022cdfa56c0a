"""The package-internal imports of a source file, read from its AST: shared by the layer-order check
(tests/test_layers.py, every import, lazy ones included) and the import-cycle check
(tests/test_import_cycles.py, module-level imports only).  `if TYPE_CHECKING:` blocks never run and are
skipped by both."""
from __future__ import annotations

import ast
from pathlib import Path


def _type_checking_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _import_nodes(tree, top_level: bool):
    if not top_level:
        yield from (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
        return
    for node in tree.body:                         # module level, inside `if`/`try` at module level too
        inner = ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]
        yield from (n for n in inner if isinstance(n, (ast.Import, ast.ImportFrom)))


def package_imports(path: Path, root: Path, *, top_level: bool = False) -> list[tuple[int, list[str], list[str]]]:
    """(line, base, names) of every import of the package folder `root` in the file `path` below it: base is
    the imported module as parts below the package (`from ..engine import fit` in experiments/x.py ->
    ['experiments', 'engine']; [] for the package root), names the names a `from` import takes ([] for
    `import initlab.x`).  top_level: only the module-level imports (those run when the module is imported)."""
    top = root.name
    rel = path.relative_to(root).with_suffix("").parts
    pkg_parts = list(rel[:-1])                     # the package the file is in (its own, for an __init__)
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    out = []
    for node in _import_nodes(tree, top_level):
        if node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name.split(".")[1:], []) for a in node.names if a.name.split(".")[0] == top)
            continue
        if node.level == 0:
            if (node.module or "").split(".")[0] != top:
                continue
            base = node.module.split(".")[1:]
        else:
            up = pkg_parts[:len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
            base = up + (node.module.split(".") if node.module else [])
        out.append((node.lineno, base, [a.name for a in node.names]))
    return out
