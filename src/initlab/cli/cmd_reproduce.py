"""`initlab reproduce NAME`: rerun an experiment of the source tutorials beside its published figures."""
from __future__ import annotations

import json

from . import _checks as ck
from ._command import command


def register(sub) -> None:
    p = command(
        sub, "reproduce", help="rerun an experiment of the source tutorials and show our figures beside the published ones",
        description="Run one reproduction: our figures (mean and 95 %% CI over seeds) beside the figure the source "
                    "published, the claims checked on them, PNG plots under ./initlab-runs/reproduce/NAME/.",
        examples=["initlab reproduce --list", "initlab reproduce backprop --json",
                  "initlab reproduce constant-and-uniform --seeds 5", "initlab reproduce housing --quick"],
        notes="Exit status 1 when a claim the reproduction checks does not hold.")
    p.add_argument("name", nargs="?", help="which reproduction (see --list)")
    p.add_argument("--list", action="store_true", help="list the reproductions and exit")
    p.add_argument("--seeds", type=ck.seeds(), default=None, metavar="N", help="number of seeds (default: per reproduction)")
    p.add_argument("--quick", action="store_true", help="reduced budget (shorter training, fewer seeds)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--store", default=None, metavar="DIR", help="record the training runs in this run store")
    p.add_argument("--out", default=None, metavar="DIR", help="where the PNG plots go "
                                                              "(default ./initlab-runs/reproduce/NAME)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG")
    p.add_argument("--threads", type=ck.parallel("--threads", auto=False), default=1, metavar="N",
                   help="torch threads (default 1: the models are small and one thread is fastest on a busy machine)")
    ck.executor_flags(p, "the chunks of the reproductions that sweep (constant-and-uniform, housing) are Ray tasks; "
                         "the others train here", retries=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..experiments import reproduce as rp
    from .main import UsageError
    if args.list:
        rows = rp.describe()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            w = max(len(r["name"]) for r in rows)
            for r in rows:
                print(f"{r['name']:<{w}}  {r['title']}  [{r['source']}]")
        return 0
    if not args.name:
        raise UsageError("reproduce: give a NAME or --list")
    if args.out and not args.no_plots:
        ck.writable_folder(args.out, "initlab reproduce", "--out", "plots")
    from ..reports.reproduce_plots import reproduce    # the experiment, then its figure (reports/)
    result = reproduce(args.name, seeds=args.seeds, budget="quick" if args.quick else "full",
                       store=args.store, out_dir=args.out, plots=not args.no_plots,
                       progress=not args.json, threads=args.threads, executor=args.executor,
                       address=args.address)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(rp.format_text(result))
    return 0 if result.ok else 1
