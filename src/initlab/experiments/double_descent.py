"""Deep double descent (Nakkiran et al. 2019) on MLPs: model-wise, epoch-wise and sample-wise sweeps.

    >>> import initlab
    >>> r = initlab.double_descent("width", store="dd.sqlite", plots="dd-plots")   # the default sweep
    >>> r.analysis["threshold_width"], r.analysis["shows_peak"], r.verdict
    >>> r.to_dict()                     # JSON-able: config, curves, analysis, figures

Recipe (the defaults)
---------------------
* data: MNIST-1D generated locally (``initlab.data.load("mnist1d")``): 4000 training samples,
  10 000 clean test samples, 15 % of the training labels replaced by a random *wrong* label
  (drawn once with ``data_seed``; the same noisy set for every run seed).
* model: MLP ``in-h-h-10`` with ReLU, widths h geometric from 2 to 512 (17 widths, ratio ~sqrt 2).
* training: Adam (lr 1e-3, betas 0.9/0.999, no weight decay), batch 128, cross-entropy,
  `DEFAULT_EPOCHS` epochs, no early stopping, no augmentation, no learning-rate schedule:
  long enough for the models past the threshold to interpolate the noisy training set.
* init: `policy` ("torch-default" = nn.Linear's own init); every (width, seed) model is
  initialised as the narrow model it is, with its own fans and its own seed.
* measured: train error (on the noisy labels the model is trained on) and test error (clean
  labels) and both losses, at ~120 log-spaced epochs (every epoch up to 20) and the last one.

Definitions used in the analysis
--------------------------------
* interpolation threshold: the first (narrowest) width whose final training error is < `tol`
  (default 1 %), i.e. the first model that (about) fits the noisy training set.
* classical-regime minimum: the lowest final test error among the widths *below* the threshold.
* the run shows the peak when the test error at the threshold exceeds both the classical minimum
  and the widest model's test error by at least `min_rise` (default 3 points); the verdict says
  plainly when it does not.  The argmax of the test-error curve is reported as the peak width.
* peak width: the argmax of the test-error curve among the widths from the classical minimum on
  (the argmax over all widths when there is no threshold or no classical regime).
* regimes (shading of the plot): classical below threshold/2, critical from threshold/2 to
  2 x threshold, modern above.

Storage and resuming
--------------------
One RunRecord per (width, seed) in a `RunStore`: ``policy = "<policy>@w=<width>"`` (the width is
part of the label, *not* of the config), ``config_hash`` of everything else (data, noise, sizes,
epochs, optimizer, batch, schedule).  A rerun with the same settings skips every (width, seed)
already in the store, so adding widths or seeds trains only the new ones.  The sample-wise
sweep stores one config per training-set size (``n_train``), so its n = 4000 runs are the very
runs of the model-wise sweep.  History rows: {"epoch", "train_loss", "train_err", "test_loss",
"test_err"} at the measured epochs only.

Each sweep (one policy, one training-set size) goes through the run sink like compare (dd_runs.py): two
sweeps of one config started together train each run once, and a SIGKILL loses no saved run.

Speed: widths and seeds train concurrently as width buckets through the engine (see dd_sweep.py,
engine/mlp_kernel.py), the buckets spread over one single-thread worker process per core (``threads``
given: one process with that many threads); a record's ``seconds`` is its bucket's wall time divided
by the bucket's models.  ``final_only=True`` (CLI ``--final-only``) measures only after the last epoch.
Measured figures of the default sweep: docs/engine.md.
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import torch

from .dd_analysis import (_compare, _pct, analyze_epochwise, analyze_modelwise, analyze_samplewise,  # noqa: F401
                          find_threshold)
from .dd_data import (AXES, DATA_SETS, DEFAULT_EPOCHS, DEFAULT_N_TEST, DEFAULT_N_TRAIN,  # noqa: F401
                      DEFAULT_SAMPLE_WIDTHS, DEFAULT_SAMPLES, DEFAULT_WIDTHS, data_loader)
from .dd_result import DoubleDescentResult
from .dd_runs import parse_label, run_label, sweep
from .sink import open_store
from .sweep import DEFAULT_RETRIES, check_double_descent

WHERE = "initlab.double_descent"
RECIPE = "MLP in-h-h-out, ReLU; Adam(lr, betas=(0.9, 0.999), eps=1e-8, no weight decay); cross-entropy; no early stopping"


def geometric_widths(lo: int = 2, hi: int = 512, n: int = 17) -> list[int]:
    """n integer widths geometric from lo to hi (duplicates removed)."""
    return sorted({int(round(lo * (hi / lo) ** (i / (n - 1)))) for i in range(n)})


def _curves(records, widths, seeds, schedule):
    """Seed means: final train/test error per width, and width x epoch matrices at the measured epochs."""
    out = {"width": list(widths), "train_err": [], "test_err": [], "test_err_std": [], "train_loss": [],
           "test_loss": []}
    tr_mat, te_mat = [], []
    for w in widths:
        recs = [records[(w, s)] for s in seeds if (w, s) in records]
        fin = lambda k: float(np.mean([r.final.get(k, math.nan) for r in recs])) if recs else math.nan  # noqa: E731
        out["train_err"].append(fin("train_err"))
        out["test_err"].append(fin("test_err"))
        out["train_loss"].append(fin("train_loss"))
        out["test_loss"].append(fin("test_loss"))
        out["test_err_std"].append(float(np.std([r.final.get("test_err", math.nan) for r in recs])) if recs else math.nan)
        by_ep = lambda k: [float(np.mean([{h["epoch"]: h.get(k, math.nan) for h in r.history}.get(e, math.nan)  # noqa: E731
                                          for r in recs])) if recs else math.nan for e in schedule]
        tr_mat.append(by_ep("train_err"))
        te_mat.append(by_ep("test_err"))
    return out, {"epochs": list(schedule), "widths": list(widths), "train_err": tr_mat, "test_err": te_mat}


# --------------------------------------------------------------------------- the API
def double_descent(axis: str = "width", *, data="mnist1d", noise: float = 0.15, widths=None, epochs: int | None = None,
                   seeds=1, policy: str = "torch-default", store=None, compare: str | None = None, samples=None,
                   n_train: int = DEFAULT_N_TRAIN, n_test: int = DEFAULT_N_TEST, batch_size: int = 128,
                   lr: float = 1e-3, data_seed: int = 0, data_dir=None, threads: int | None = None,
                   tol: float = 0.01, min_rise: float = 0.03, eval_points: int = 120, max_models: int | None = None,
                   verbose: bool = False, log=None, final_only: bool = False, workers=None, executor: str = "local",
                   address: str | None = None, max_retries: int = DEFAULT_RETRIES) -> DoubleDescentResult:
    """Run a deep-double-descent sweep and measure the interpolation threshold and the peak.

    axis        "width" (model-wise), "epochs" (epoch-wise: the same runs, read per epoch) or
                "samples" (sample-wise: test error against training-set size at fixed widths)
    data        "mnist1d" (default, generated locally), "fashion-mnist" (a stratified subset of
                `n_train`), an initlab Dataset or (x_train, y_train, x_test, y_test)
    noise       fraction of training labels replaced by a random wrong label (named data only)
    widths      hidden widths h of the MLP in-h-h-out (default: 17 geometric from 2 to 512;
                samples axis: 16, 45, 128)
    epochs      training epochs (default DEFAULT_EPOCHS)
    seeds       number of seeds (0..N-1) or a list; errors are averaged over seeds
    policy      init policy (scheme name or preset); "torch-default" is nn.Linear's init
    compare     a second policy: runs the same model-wise sweep under it and reports whether the
                threshold / peak width moves
    store       None = no store (nothing saved, nothing resumed; the same meaning as in compare and
                reproduce), a path or a RunStore: finished (width, seed) runs are saved as each
                bucket finishes and skipped on a rerun
    samples     training-set sizes of the sample-wise sweep (default 500..4000)
    (no plots here: ``initlab.double_descent`` = reports.dd_plots.double_descent runs this, then draws the
    PNGs with ``plots=folder``; experiments never import reports)
    threads     torch.set_num_threads(threads) for the run (restored afterwards); one process
    workers     processes training whole width buckets, one thread each: None = auto (one per core
                when `threads` is None and there are 2+ buckets, else 1), or an int
    executor    "local" (this process and its worker processes) or "ray": each width bucket is one Ray task,
                saved here as it finishes; a failing one is retried, then listed in config["failed"] (docs/ray.md)
    address     Ray cluster address (None: start a local Ray; "auto": the cluster started on this machine)
    max_retries how often a failed Ray task is run again before its runs are listed as failed: 0..100 (default 2)
    final_only  measure train/test error only after the last epoch (no epoch-wise map; about a
                quarter less work on the default sweep); not with axis="epochs"
    tol         training error below which a width counts as interpolating (threshold)
    min_rise    how far (fraction, 0.03 = 3 points) the threshold's test error must exceed both
                the classical minimum and the widest model for `shows_peak`
    """
    t_start = time.perf_counter()
    spec = check_double_descent(axis, data=data, noise=noise, widths=widths, epochs=epochs, seeds=seeds, policy=policy,
                                compare=compare, samples=samples, n_train=n_train, n_test=n_test,
                                batch_size=batch_size, lr=lr, data_seed=data_seed, data_dir=data_dir, threads=threads,
                                tol=tol, min_rise=min_rise, eval_points=eval_points, final_only=final_only,
                                workers=workers, executor=executor, address=address, max_retries=max_retries,
                                where=WHERE)
    if log is None:
        import sys
        log = (lambda m: print(f"[double-descent] {m}", file=sys.stderr, flush=True)) if verbose else (lambda m: None)
    # from here on everything is read from the validated spec
    policy, compare = spec.policies[0], (spec.policies[1] if len(spec.policies) > 1 else None)
    widths, seeds, samples, workers = list(spec.widths), list(spec.seeds), spec.options["samples"], spec.workers
    final_only, eval_points, tol, min_rise = (spec.options[k] for k in ("final_only", "eval_points", "tol", "min_rise"))
    noise, n_train, n_test, data_seed = (spec.data_options[k] for k in ("noise", "n_train", "n_test", "data_seed"))
    cfg, data_name, named = spec.train, spec.data_fingerprint, spec.named_data
    epochs, batch_size, lr, schedule = cfg.epochs, cfg.batch_size, cfg.lr, list(cfg.eval_epochs)
    get_data = data_loader(data_name, spec.data, **spec.data_options)
    base = {"experiment": "double-descent", "data": data_name, "noise": float(noise) if named else None,
            "pool": int(n_train) if named else None,
            "n_test": int(n_test) if data_name == "mnist1d" else None, "data_seed": int(data_seed),
            "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "optimizer": "adam(0.9,0.999,1e-8)",
            "loss": "cross-entropy", "model": "mlp in-h-h-out relu",
            "eval_epochs": f"final({epochs})" if final_only else f"eval_epochs({epochs},{eval_points})",
            "order": "randperm per epoch, generator seeded by order_seed(seed)"}
    failed = []
    st, opened = open_store(store, WHERE)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with _executor_session(spec) as spec:
            res = _run(axis, policy, compare, widths, seeds, samples, n_train, get_data, base, epochs, batch_size,
                       lr, schedule, st, log, max_models, tol, min_rise, data_name, workers, spec, failed)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
        if opened:
            st.close()
    res.threads = threads or old_threads
    res.config = dict(res.config, executor=executor, failed=failed)
    res.store = str(st.path) if st is not None else ""
    res.seconds = time.perf_counter() - t_start
    return res


def _executor_session(spec):
    """Ray up for the whole sweep (every training-set size, both policies), or nothing for the local path."""
    if spec.executor != "ray":
        return contextlib.nullcontext(spec)
    from .executors.ray_executor import session

    @contextlib.contextmanager
    def up():
        with session(spec, WHERE) as (_, s):
            yield s
    return up()


def _run(axis, policy, compare, widths, seeds, samples, n_train, get_data, base, epochs, batch_size, lr, schedule,
         st, log, max_models, tol, min_rise, data_name, workers, spec=None, failed=None) -> DoubleDescentResult:
    kw = dict(get_data=get_data, base_config=base, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
              store=st, log=log, max_models=max_models, workers=workers, spec=spec, failed=failed)
    full_n = n_train if isinstance(base["pool"], int) else None
    if axis == "samples":
        per_width = {w: [] for w in widths}
        hashes, runs, trained, skipped, buckets, cfg = {}, [], 0, 0, [], None
        for n in samples:
            sw = sweep(policy, widths, seeds, n, **kw)
            cfg = cfg or sw["config"]
            hashes[sw["config"]["n_train"]] = sw["hash"]
            curves, _ = _curves(sw["records"], widths, seeds, schedule)
            for w, e in zip(widths, curves["test_err"]):
                per_width[w].append(e)
            trained, skipped, buckets = trained + sw["trained"], skipped + sw["skipped"], buckets + sw["buckets"]
            runs += _run_rows(sw)
        sa = analyze_samplewise(samples, per_width, min_rise=min_rise)
        hurts = sa["widths_where_more_data_hurts"]
        verdict = ("SAMPLE-WISE NON-MONOTONICITY: more data raised the test error by >= "
                   f"{100 * min_rise:.0f} points at widths {hurts}." if hurts else
                   f"NO SAMPLE-WISE NON-MONOTONICITY: test error never rose by >= {100 * min_rise:.0f} points "
                   "with more training data at these widths.")
        cfg = dict(cfg, n_train=None, samples=list(samples))
        return DoubleDescentResult(axis=axis, policy=policy, config=cfg, config_hashes=hashes, widths=widths,
                                   seeds=seeds, epochs=epochs, samplewise={"samples": list(samples),
                                   "test_err": {str(w): v for w, v in per_width.items()}, "analysis": sa},
                                   verdict=verdict, runs=runs, trained=trained, skipped=skipped, buckets=buckets)
    n = full_n  # None: all of a pre-loaded training set
    sw = sweep(policy, widths, seeds, n, **kw)
    curves, mats = _curves(sw["records"], widths, seeds, schedule)
    an = analyze_modelwise(widths, curves["train_err"], curves["test_err"], tol=tol, min_rise=min_rise)
    res = DoubleDescentResult(axis=axis, policy=policy, config=dict(sw["config"], data_info=sw["data_info"]),
                              config_hashes={sw["config"]["n_train"]: sw["hash"]}, widths=widths, seeds=seeds,
                              epochs=epochs, curves=curves, analysis=an, verdict=an["verdict"], runs=_run_rows(sw),
                              trained=sw["trained"], skipped=sw["skipped"], buckets=sw["buckets"])
    if axis == "epochs":
        mats["analysis"] = analyze_epochwise(widths, mats["epochs"], mats["test_err"], min_rise=min_rise)
        res.epochwise = mats
    else:
        res.epochwise = {"epochs": mats["epochs"], "widths": mats["widths"], "train_err": mats["train_err"],
                         "test_err": mats["test_err"]}
    if compare is not None:
        sw2 = sweep(compare, widths, seeds, n, **kw)
        c2, _ = _curves(sw2["records"], widths, seeds, schedule)
        an2 = analyze_modelwise(widths, c2["train_err"], c2["test_err"], tol=tol, min_rise=min_rise)
        res.trained += sw2["trained"]
        res.skipped += sw2["skipped"]
        res.buckets += sw2["buckets"]
        res.runs += _run_rows(sw2)
        res.comparison = _compare(policy, an, compare, an2, c2)
    return res


def _run_rows(sw) -> list[dict]:
    rows = []
    for (w, s), r in sorted(sw["records"].items()):
        p, _ = parse_label(r.policy)
        rows.append({"policy": p, "width": w, "seed": s, "n_train": sw["config"]["n_train"], "status": r.status,
                     **{k: r.final.get(k) for k in ("train_err", "test_err", "train_loss", "test_loss")}})
    return rows


__all__ = ["double_descent", "DoubleDescentResult", "analyze_modelwise", "analyze_epochwise", "analyze_samplewise",
           "find_threshold", "geometric_widths", "run_label", "parse_label", "AXES", "DEFAULT_WIDTHS",
           "DEFAULT_EPOCHS"]
