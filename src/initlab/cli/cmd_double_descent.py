"""`initlab double-descent`: model-wise / epoch-wise / sample-wise deep double descent sweeps."""
from __future__ import annotations

import argparse
import json
import sys

from . import _checks as ck
from ._command import command

AXES = ("width", "epochs", "samples")


MAX_WIDTH = 16384           # two h x h layers of this width are 1 GiB in float32 per model, before Adam's state
MAX_SAMPLES = 10_000_000


def _ints(flag: str, hi: int):
    """'2,4,8' or '2 4 8' -> [2, 4, 8], each in [1, hi] (argparse type for one token; nargs='+' joins the rest)."""
    def parse(text: str) -> list[int]:
        out = []
        for part in str(text).replace(",", " ").split():
            try:
                n = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected integers like 2,4,8 (got {part!r})") from None
            if not 1 <= n <= hi:       # a width of 10^8 reached the allocator (16 GB asked; exit 1)
                raise argparse.ArgumentTypeError(f"{flag}={n} is not allowed; expected integers from 1 to {hi}. "
                                                 f"Fix: e.g. {flag} 16 45 128")
            out.append(n)
        return out
    parse.__name__ = "int list"
    return parse


def register(sub) -> None:
    p = command(
        sub, "double-descent", help="deep double descent sweeps (model-wise, epoch-wise, sample-wise) with plots",
        description="Train MLPs in-h-h-out of many widths on noisy labels (Adam, cross-entropy) and measure the "
                    "interpolation threshold and the test-error peak (Nakkiran et al. 2019). Widths and seeds "
                    "train concurrently as masked width buckets; runs are kept in --store and skipped on a rerun.",
        examples=["initlab double-descent --axis width --store dd.sqlite --plots dd-plots",
                  "initlab double-descent --axis epochs --store dd.sqlite --plots dd-plots   # same runs, per epoch",
                  "initlab double-descent --axis samples --widths 16 45 128 --samples 500 1000 2000 4000",
                  "initlab double-descent --compare xavier_uniform --store dd.sqlite   # does the init move the peak?",
                  "initlab double-descent --data fashion-mnist --n-train 4000 --json",
                  "initlab double-descent --seeds 3 --store dd.sqlite --executor ray   # buckets as tasks on a local Ray",
                  "initlab double-descent --store dd.sqlite --executor ray --address auto   # a running cluster"],
        notes="Exit status: 0 done (the output says whether the peak is there), 1 with --require-peak when it is "
              "not, 2 bad usage.")
    p.add_argument("--axis", choices=AXES, default="width", help="width (model-wise), epochs or samples")
    p.add_argument("--data", default="mnist1d", help="mnist1d (default, generated locally) or fashion-mnist")
    p.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST IDX files (default: Debian's)")
    p.add_argument("--noise", type=ck.fraction("--noise"), default=0.15, help="fraction of training labels made wrong (default 0.15)")
    p.add_argument("--widths", type=_ints("--widths", MAX_WIDTH), nargs="+", default=None,
                   help="hidden widths (default: 17 geometric 2..512; samples axis: 16 45 128)")
    p.add_argument("--epochs", type=ck.epochs(), default=None, help="training epochs (default 1000)")
    p.add_argument("--seeds", type=ck.seeds(), default=1, help="number of seeds 0..N-1 (default 1)")
    p.add_argument("--policy", default="torch_default", help="init policy (default torch_default: nn.Linear's own init)")
    p.add_argument("--compare", default=None, metavar="POLICY",
                   help="also run under this policy and report whether the threshold / peak width moves")
    p.add_argument("--samples", type=_ints("--samples", MAX_SAMPLES), nargs="+", default=None,
                   help="training-set sizes for --axis samples (default 500 1000 2000 3000 4000)")
    p.add_argument("--n-train", type=ck.count("--n-train", 4000), default=4000, help="training samples (default 4000)")
    p.add_argument("--n-test", type=ck.count("--n-test", 10000), default=10000, help="MNIST-1D test samples (default 10000)")
    p.add_argument("--batch-size", type=ck.batch("--batch-size"), default=128)
    p.add_argument("--lr", type=ck.rate(), default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--tol", type=float, default=0.01, help="train error counted as interpolation (default 0.01)")
    p.add_argument("--min-rise", type=float, default=0.03, help="peak height needed on both sides (default 0.03)")
    p.add_argument("--threads", type=ck.parallel("--threads", auto=False), default=None,
                   help="torch threads in one process (default: one worker process per core, one thread each)")
    p.add_argument("--final-only", action="store_true",
                   help="measure the errors only after the last epoch (faster; no epoch-wise map, not with "
                        "--axis epochs)")
    ck.executor_flags(p, "each (width bucket, seed) is one Ray task")
    p.add_argument("--store", default=None, metavar="PATH", help="SQLite run store; finished widths are skipped")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG figures into DIR")
    p.add_argument("--json", action="store_true", help="print the result as JSON (progress stays on stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--require-peak", action="store_true",
                   help="exit 1 when the model-wise run shows no peak (or sample-wise: no non-monotonicity)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..reports.dd_plots import double_descent      # the sweep, then its figures (reports/)
    if args.plots:
        ck.writable_folder(args.plots, "initlab double-descent", "--plots", "dd-plots")
    widths = None if args.widths is None else [w for group in args.widths for w in group]
    samples = None if args.samples is None else [n for group in args.samples for n in group]
    res = double_descent(args.axis, data=args.data, noise=args.noise, widths=widths, epochs=args.epochs,
                         seeds=args.seeds, policy=args.policy, store=args.store, compare=args.compare,
                         samples=samples, n_train=args.n_train, n_test=args.n_test, batch_size=args.batch_size,
                         lr=args.lr, data_dir=args.data_dir, plots=args.plots, threads=args.threads, tol=args.tol,
                         min_rise=args.min_rise, verbose=not args.quiet, final_only=args.final_only,
                         executor=args.executor, address=args.address,
                         max_retries=args.max_retries)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, allow_nan=False))
    else:
        print(res.summary())
    failed = res.config.get("failed") or []
    for f in failed:
        print(f"initlab: run {f['policy']} width {f['width']} seed {f['seed']} (n_train {f['n_train']}) FAILED after "
              f"{f['attempts']} attempt(s): {f['error']}", file=sys.stderr)
    if failed:
        print(f"initlab: {len(failed)} run(s) failed and were not stored (NaN in the curves); rerun the same "
              "command to retry them", file=sys.stderr)
        return 1
    if args.require_peak:
        ok = (bool(res.samplewise["analysis"]["widths_where_more_data_hurts"]) if args.axis == "samples"
              else bool(res.analysis.get("shows_peak")))
        return 0 if ok else 1
    return 0
