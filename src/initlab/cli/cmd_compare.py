"""`initlab compare`: train every (policy, seed) and rank the policies; no arguments = the seed-004 comparison.

Defaults reproduce seed 004 on Fashion-MNIST: model seed004 (784-256-128-10, ReLU, dropout 0.2),
policies zeros, ones, uniform, centered_uniform, general_rule_uniform, general_rule_normal,
torch_default, auto; 3 seeds; 2 epochs; batch 100; SGD lr 0.05 (the seed text does not state its
learning rate); 20 % of the training images held out for validation; store
./initlab-runs/runs.sqlite; report ./initlab-runs/report/<data>-<model>-<config hash>-<selection>/report.html, one
folder per config and selection of policies and seeds, all listed in ./initlab-runs/report/index.html.
"""
from __future__ import annotations

import json
import sys

from . import _checks as ck
from ._command import command

MAIN_POLICIES = ("zeros", "ones", "uniform", "centered_uniform", "general_rule_uniform", "general_rule_normal",
                 "torch_default", "auto")
DEFAULTS = {"model": "seed004", "data": "fashion-mnist", "policies": ",".join(MAIN_POLICIES), "seeds": 3,
            "epochs": 2, "batch_size": 100, "optimizer": "sgd", "lr": 0.05}


def register(sub) -> None:
    p = command(
        sub, "compare", help="train every (policy, seed) and rank the initializations (no arguments: seed 004)",
        description="Train one model per (policy, seed) on a data set - all at once as one vectorized batch when\n"
                    "the model allows it - and rank the policies by validation accuracy (classification) or\n"
                    "validation MSE (regression) with 95% confidence intervals.  Finished runs are saved to the\n"
                    "store as soon as they finish; rerunning the same command skips them.\n\n"
                    "Without arguments: the seed-004 comparison (Fashion-MNIST, model seed004, 8 policies,\n"
                    "3 seeds, 2 epochs, batch 100, SGD lr 0.05, 20% validation split).",
        examples=["initlab compare",
                  "initlab compare --model digits-mlp --data digits --policies zeros,torch_default,auto "
                  "--seeds 5 --epochs 20 --batch-size 16 --lr 0.05",
                  "initlab compare --data digits --model digits-mlp --subsample 500 --epochs 3 --json",
                  "initlab compare --model housing-small --data california-housing --features AveRooms,AveOccup "
                  "--optimizer adam --lr 1e-3 --epochs 20",
                  "initlab compare --model digits-mlp --data digits --optimizer adam --lr 1e-3 --epochs 20 "
                  "--lr-schedule cosine",
                  "initlab compare --model digits-mlp --data digits --workers 1 --threads 1   # one process",
                  "initlab compare --model digits-mlp --data digits --seeds 7 --epochs 20 --executor ray   # local Ray",
                  "initlab compare --model my_net.py:build --data digits --executor ray --address auto   # a cluster"])
    p.add_argument("--model", default=DEFAULTS["model"], help="zoo spec, e.g. seed004, mlp:64-128-10:relu, "
                   "file.py:factory (default %(default)s)")
    p.add_argument("--data", default=DEFAULTS["data"], help="data set name (default %(default)s)")
    p.add_argument("--policies", default=DEFAULTS["policies"], help="comma-separated policies (default: the 8 of seed 004)")
    p.add_argument("--seeds", type=ck.seeds(), default=DEFAULTS["seeds"], help="number of seeds (default %(default)s)")
    p.add_argument("--epochs", type=ck.epochs(), default=DEFAULTS["epochs"], help="default %(default)s")
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"], help="sgd | adam | adamw (default %(default)s)")
    p.add_argument("--lr", type=ck.rate(), default=DEFAULTS["lr"], help="learning rate (default %(default)s)")
    p.add_argument("--lr-schedule", default="constant", help="constant | cosine | linear: the rate of each step, "
                   "decayed to 0 over the run for cosine and linear (default constant)")
    p.add_argument("--momentum", type=ck.non_negative("--momentum"), default=0.0, help="SGD momentum (default 0)")
    p.add_argument("--weight-decay", type=ck.non_negative("--weight-decay"), default=0.0, help="weight decay (default 0)")
    p.add_argument("--batch-size", type=ck.batch("--batch-size"), default=DEFAULTS["batch_size"], help="default %(default)s")
    p.add_argument("--loss", default=None, help="cross_entropy | bce | mse (default: from the task)")
    p.add_argument("--store", default=None, help="run store (default ./initlab-runs/runs.sqlite)")
    p.add_argument("--no-store", action="store_true", help="keep nothing: train everything, save nothing")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto: CUDA when available)")
    p.add_argument("--subsample", type=ck.count("--subsample", 1000), default=None, help="keep N training samples (quick runs)")
    p.add_argument("--features", default=None, help="comma-separated columns of a set with named features "
                   "(california-housing), e.g. AveRooms,AveOccup for the seed-003 models housing-small/-large")
    p.add_argument("--val-fraction", type=ck.fraction("--val-fraction"), default=None, help="validation share (default: the set's, 0.2 "
                   "for fashion-mnist/digits)")
    p.add_argument("--chunk", type=ck.count("--chunk", 35), default=None, help="models per vectorized batch; each chunk is saved when "
                   "it finishes (default: about a minute of training each, estimated from the model, data and "
                   "epochs)")
    p.add_argument("--path", default="auto", help="auto | vectorized | sequential (default auto)")
    p.add_argument("--target", type=ck.finite("--target"), default=None, help="report epochs to reach this metric value")
    p.add_argument("--threads", default="auto", type=ck.parallel("--threads"), help="torch CPU threads while training, or auto (default): 1 per "
                   "worker process, else a fixed rule: all cores when a training step does >= 4M multiply-adds, else 1")
    p.add_argument("--workers", default="auto", type=ck.parallel("--workers"), help="processes training slices of the models (stacked-MLP path "
                   "on the CPU), one thread each, or auto (default): one per core when that path runs with small "
                   "matmuls (largest layer in*out*batch <= 2^24); results do not depend on it")
    ck.executor_flags(p, "each chunk of models is one Ray task")
    p.add_argument("--report", default=None,
                   help="report folder (default: report/<data>-<model>-<config hash>-<selection>/ next to the store, "
                   "one per config and selection of policies and seeds, listed in report/index.html)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML/PNG report")
    p.add_argument("--json", action="store_true", help="print one JSON object (summary, config, path, runs)")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..errors import bad_argument
    from ..experiments.compare import CompareInterrupted, compare
    from ..experiments.store import DEFAULT_DIR, DEFAULT_NAME, json_safe

    def count(flag, text):
        if text == "auto":
            return None
        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise bad_argument("initlab compare", flag, text, "a positive integer or auto", f"e.g. {flag} 2")
        return n
    threads, workers = count("--threads", args.threads), count("--workers", args.workers)
    size = ck.model_fits(args.model, "initlab compare", "--model")
    n_models = args.seeds * max(1, len([p for p in args.policies.split(",") if p.strip()]))
    at_once = min(args.chunk or n_models, n_models)
    ck.models_fit(size, at_once, "initlab compare", "--chunk" if args.chunk else "--seeds",
                  args.chunk if args.chunk else args.seeds)
    data_options = {}
    if args.subsample is not None:
        data_options["subsample"] = args.subsample
    if args.val_fraction is not None:
        data_options["val_fraction"] = args.val_fraction
    if args.features is not None:
        data_options["features"] = [f.strip() for f in args.features.split(",") if f.strip()]
    store = False if args.no_store else (args.store or str(Path(DEFAULT_DIR) / DEFAULT_NAME))
    report_dir = None                          # checked for writing now; the config's own folder goes under it
    if not args.no_report:
        base = Path(args.store).parent if args.store else Path(DEFAULT_DIR)
        report_dir = args.report or str(base / "report")
    if args.store and not args.no_store:       # fail now, not after the training (the report sits beside it)
        try:
            Path(args.store).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise bad_argument("initlab compare", "--store", args.store, "a path whose folder can be created",
                               f"{e.strerror or e}: {e.filename}; pass another --store PATH") from None
    if store:                                  # a foreign, read-only or unreadable store fails here, before the data
        from ..experiments.store import RunStore
        RunStore(store).close()
    if report_dir is not None:
        try:
            Path(report_dir).mkdir(parents=True, exist_ok=True)
            probe = Path(report_dir) / ".initlab-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise bad_argument("initlab compare", "--report", report_dir, "a folder that can be created and written",
                               f"{e.strerror or e}; pass another --report FOLDER, or --no-report") from None
    try:
        result = compare(args.model, args.data, args.policies, seeds=args.seeds, epochs=args.epochs,
                         optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, loss=args.loss,
                         store=store, device=args.device, progress=not args.quiet,
                         data_options=data_options, target=args.target, chunk=args.chunk, path=args.path,
                         momentum=args.momentum, weight_decay=args.weight_decay, threads=threads,
                         workers=workers, executor=args.executor, address=args.address,
                         max_retries=args.max_retries, lr_schedule=args.lr_schedule)
    except CompareInterrupted as e:
        where = f" in {e.store_path}" if e.store_path else ""
        print(f"initlab: interrupted; finished results are kept ({e.saved} run(s) saved{where} this time); "
              f"rerun the same command to train the {e.pending} remaining run(s)", file=sys.stderr)
        return 130
    if report_dir is not None and result.runs:
        from ..reports import write_report
        from ..reports.index import config_folder, write_index
        if args.report:
            result.report = write_report(result, report_dir)
        else:                                  # one folder per comparison: another one cannot overwrite it
            result.report = write_report(result, Path(report_dir) / config_folder(result.config))
            result.report["index"] = write_index(report_dir)
    failed = result.config.get("failed") or []
    if args.json:
        out = {"summary": result.summary, "config": result.config, "config_hash": result.config["config_hash"],
               "path": result.path, "path_reason": result.path_reason, "skipped": result.skipped,
               "runs": [{"policy": r.policy, "seed": r.seed, "status": r.status, "final": r.final,
                         "epochs": len(r.history), "seconds": r.seconds} for r in result.runs],
               "report": result.report}
        print(json.dumps(json_safe(out), indent=2))
        return _failures(failed)
    from ..reports import terminal_table
    print(terminal_table(result))
    if result.report:
        print(f"report: {result.report.get('html')}"
              + (f" (every config's report: {result.report['index']})" if result.report.get("index") else ""))
    if result.config.get("store"):
        print(f"store: {result.config['store']} (config {result.config['config_hash']}); "
              f"{result.skipped} run(s) reused, {len(result.runs) - result.skipped} trained "
              f"in {result.config['seconds']:.1f} s")
    return _failures(failed)


def _failures(failed) -> int:
    """Runs whose Ray task failed after its retries: one stderr line each; exit 1 (rerun to retry them)."""
    for f in failed:
        print(f"initlab: run {f['policy']} seed {f['seed']} FAILED after {f['attempts']} attempt(s): {f['error']}",
              file=sys.stderr)
    if failed:
        print(f"initlab: {len(failed)} run(s) failed and were not stored; the others are in the summary; rerun "
              "the same command to retry the failed ones", file=sys.stderr)
    return 1 if failed else 0
