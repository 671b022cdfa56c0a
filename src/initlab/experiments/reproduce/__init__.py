"""Reproductions of every experiment of the source tutorials, one module per reproduction.

    >>> import initlab
    >>> r = initlab.reproduce("backprop")            # a Reproduction record
    >>> r.data["loss_after"] < r.data["loss_before"]
    True

The catalogue (name, title, source, default seeds) is `_common.CATALOG`; each module
defines NAME and `run(ctx) -> Reproduction`.  Every figure is computed by that code each time it is
shown: nothing is cached or hard-coded except the figures the source published,
which are printed beside ours.
"""
from __future__ import annotations

import importlib
import time

from ...errors import bad_argument, unknown_choice
from ._common import threads as torch_threads
from ._common import BUDGETS, CATALOG, Claim, Context, Figure, Reproduction, format_text, resolve_seeds

__all__ = ["reproduce", "reproductions", "describe", "format_text", "Reproduction", "Figure", "Claim"]


def _module(name: str):
    _check(name)
    return importlib.import_module(f"{__name__}.{CATALOG[name]['module']}")


def _check(name) -> None:
    if not isinstance(name, str) or name not in CATALOG:
        raise unknown_choice("reproduce", "name", name, list(CATALOG), "run `initlab reproduce --list`")


def reproductions() -> list[str]:
    """Names of every reproduction."""
    return list(CATALOG)


def describe(name: str | None = None):
    """{name, title, source, default_seeds} for one reproduction, or a list for all."""
    if name is None:
        return [describe(n) for n in CATALOG]
    _check(name)
    c = CATALOG[name]
    return {"name": name, "title": c["title"], "source": c["source"], "default_seeds": dict(c["seeds"])}


def reproduce(name: str, *, seeds=None, budget: str = "full", store=None, progress: bool = False,
              threads: int | None = 1, executor: str = "local", address: str | None = None) -> Reproduction:
    """Run reproduction `name` and return its Reproduction (figures beside the published ones, claims); no PNG.

    The plots are drawn one layer up: ``initlab.reproduce`` (reports/reproduce_plots.py) runs this, then
    draws them from ``Reproduction.experiment`` (experiments never import reports).

    seeds: None (the reproduction's default for the budget), a count N (seeds 0..N-1) or a list of seeds.
    budget: "full" (the source's protocol) or "quick" (reduced, for tests and smoke runs).
    store: None records nothing (the same meaning in every experiment, see experiments/sink.py), True the
           default ./initlab-runs/runs.sqlite, a path or a RunStore: where the training runs are recorded.
    progress: progress bars on stderr for the longer trainings.
    threads: torch threads while it runs (default 1: these models are small, and on a busy machine more
             threads spend their time waiting for each other); None leaves torch's setting alone.
    executor, address: where the reproductions that sweep (constant-and-uniform, housing) run their compare:
             "local" or "ray" (on a local Ray, or the cluster at `address`; docs/ray.md); the others train here.
    """
    m = _module(name)
    if budget not in BUDGETS:
        raise unknown_choice("reproduce", "budget", budget, BUDGETS, "use budget='quick' for a short run")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise bad_argument("reproduce", "threads", threads, "None or a positive int", "e.g. threads=1")
    from ..sweep import check_executor
    check_executor("reproduce", executor, address)
    seed_list = resolve_seeds(seeds, CATALOG[name]["seeds"][budget])
    from ..sink import open_store
    store, owned = open_store(store, "reproduce")
    ctx = Context(name=name, budget=budget, seeds=seed_list, store=store, progress=bool(progress),
                  executor=executor, address=address)
    t0 = time.perf_counter()
    try:
        if threads is None:
            result = m.run(ctx)
        else:
            with torch_threads(threads):
                result = m.run(ctx)
    finally:
        if owned:
            store.close()
    result.wall_s = time.perf_counter() - t0
    if not isinstance(result, Reproduction):  # pragma: no cover - programming error in a module
        raise bad_argument("reproduce", "name", name, "a module whose run() returns a Reproduction")
    return result
