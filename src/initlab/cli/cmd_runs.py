"""`initlab runs`: list the runs in a run store, or export them to CSV / JSON."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import InitError, bad_argument, unknown_choice
from ._command import command

METRICS = ("train_loss", "val_loss", "val_acc", "val_mse")


def register(sub) -> None:
    p = command(
        sub, "runs", help="list or export the runs stored by `initlab compare`",
        description="List the runs of a run store (config hash, policy, seed, status, epochs, final metrics) "
                    "or export them: CSV has one row per run and epoch, JSON one object per run with its history.",
        examples=["initlab runs", "initlab runs --config 3f2a --policy he",
                  "initlab runs --json | jq '.[] | select(.status == \"diverged\")'",
                  "initlab runs --export runs.csv", "initlab runs --store other/runs.sqlite --export runs.json"],
        notes="--config accepts any unique prefix of a config hash.")
    p.add_argument("--store", metavar="PATH", default=None,
                   help="the SQLite run store (default: ./initlab-runs/runs.sqlite)")
    p.add_argument("--config", metavar="HASH", default=None, help="only this config (hash or unique prefix)")
    p.add_argument("--policy", metavar="P", default=None, help="only this policy")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print a JSON list of runs (final metrics, no history)")
    g.add_argument("--export", metavar="FILE", default=None,
                   help="write the runs to FILE.csv (one row per run-epoch) or FILE.json (runs with history)")
    p.set_defaults(func=run)


def _open(path):
    from ..experiments.store import RunStore, default_path
    path = Path(path) if path else default_path()
    if not path.is_file():
        raise InitError(f"initlab runs: --store={str(path)!r}: no run store there (expected an existing SQLite "
                        "file). Fix: run `initlab compare ...` first (it writes ./initlab-runs/runs.sqlite) "
                        "or pass --store PATH")
    return RunStore(path, readonly=True)     # reading needs no write access and never writes a byte


def _resolve_hash(store, prefix: str | None) -> str | None:
    if prefix is None:
        return None
    hashes = [c["hash"] for c in store.configs()]
    hits = [h for h in hashes if h.startswith(prefix)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise bad_argument("initlab runs", "--config", prefix, "a unique prefix of a config hash",
                           f"it matches {', '.join(hits)}; give more digits")
    raise unknown_choice("initlab runs", "--config", prefix, hashes or ["(the store holds no config)"],
                         "see `initlab runs` for the stored hashes")


def run(args) -> int:
    from ..experiments.store import json_safe
    from ..experiments.store_leases import owner_alive
    from ..reports.table import fmt
    with _open(args.store) as store:
        h = _resolve_hash(store, args.config)
        if args.policy is not None:
            policies = sorted({r.policy for r in store.runs(config_hash=h)})
            if args.policy not in policies:
                raise unknown_choice("initlab runs", "--policy", args.policy, policies or ["(no runs)"])
        if args.export:
            try:
                out = store.export(args.export, config_hash=h, policy=args.policy)
            except OSError as e:   # name the file asked for, not the .tmp written first
                raise bad_argument("initlab runs", "--export", args.export, "a .csv or .json path in a writable folder",
                                   f"{e.strerror or e}; pass another --export FILE") from None
            n = len(store.runs(config_hash=h, policy=args.policy))
            print(f"wrote {n} run(s) to {out}")
            return 0
        runs = store.runs(config_hash=h, policy=args.policy)
        configs = {c["hash"]: c for c in store.configs()}
        if args.json:
            rows = [{"config_hash": r.config_hash, "policy": r.policy, "seed": r.seed, "status": r.status,
                     "epochs": len(r.history), "final": r.final, "seconds": r.seconds} for r in runs]
            print(json.dumps(json_safe(rows), indent=2, allow_nan=False))
            return 0
        if not runs:
            print(f"no runs in {store.path}" + (" for this selection" if (h or args.policy) else ""))
            return 0
        present = {k for r in runs for k in r.final} - {"epoch"}
        metrics = [m for m in METRICS if m in present] + sorted(present - set(METRICS))
        head = ["config", "policy", "seed", "status", "epochs", *metrics, "seconds"]
        table = [[r.config_hash, r.policy, str(r.seed), r.status, str(len(r.history)),
                  *(fmt(r.final.get(m)) if isinstance(r.final.get(m), (int, float)) else "-" for m in metrics),
                  f"{r.seconds:.3g}"] for r in runs]
        widths = [max(len(hd), *(len(c[i]) for c in table)) for i, hd in enumerate(head)]
        left = {0, 1, 3}

        def line(cells):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        for ch in sorted({r.config_hash for r in runs}):
            cfg = configs.get(ch, {}).get("config", {})
            desc = " · ".join(str(cfg[k]) for k in ("data", "model") if k in cfg)
            n = sum(r.config_hash == ch for r in runs)
            print(f"config {ch}: {desc or '(no description)'}, {n} run(s)")
        print(line(head))
        print(line(["-" * w for w in widths]))
        for c in table:
            print(line(c))
        print(f"{len(runs)} run(s) in {os.fspath(store.path)}")
        for ch in sorted({r.config_hash for r in runs} | ({h} if h else set())):
            held = {}                            # runs another process is training now (leases, see store_leases.py)
            for v in store.holders(ch).values():
                if v["expires"] <= time.time() or not owner_alive(v["host"], v["pid"]):
                    continue                     # left by a killed process: the next compare takes it over
                held.setdefault(f"pid {v['pid']} on {v['host']}", []).append(v["expires"])
            for who, exp in sorted(held.items()):
                left = max(0.0, min(exp) - time.time())
                print(f"config {ch}: {len(exp)} run(s) being trained by {who} (lease ends in {left:.0f} s unless renewed)")
    return 0
