"""The one parser of the `seeds` argument of every experiment (compare, double descent, reproduce)."""
from __future__ import annotations

from ..errors import bad_argument


def parse_seeds(seeds, where: str, *, default: int | None = None, sort: bool = False,
                nonneg: bool = False) -> list[int]:
    """None -> range(default) (an error when there is no default); an int N >= 1 -> range(N); an iterable of
    distinct ints -> those (sorted with sort=True; >= 0 with nonneg=True).  Bad input: InitError naming `where` and `seeds`."""
    if seeds is None and default is not None:
        return list(range(default))
    if isinstance(seeds, bool) or seeds is None:
        raise bad_argument(where, "seeds", seeds, "a positive number of seeds or a list of seeds", "e.g. seeds=5")
    if hasattr(seeds, "__index__"):                 # int, NumPy integer
        n = int(seeds)
        if n < 1:
            raise bad_argument(where, "seeds", seeds, "a positive number of seeds or a list of seeds", "e.g. seeds=5")
        return list(range(n))
    try:
        vals = list(seeds)
        out = [int(s) for s in vals]
    except (TypeError, ValueError):
        raise bad_argument(where, "seeds", seeds, "a positive int or a list of ints", "e.g. seeds=[0, 1, 2]") from None
    if (not out or len(set(out)) != len(out) or any(isinstance(v, bool) for v in vals)
            or any(isinstance(v, float) and v != int(v) for v in vals) or (nonneg and min(out) < 0)):
        raise bad_argument(where, "seeds", seeds, "distinct ints" + (" >= 0" if nonneg else "") + ", at least one",
                           "e.g. seeds=[0, 1, 2]")
    return sorted(out) if sort else out
