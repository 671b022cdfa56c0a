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
from dataclasses import replace


import numpy as np
import torch

from ..errors import bad_argument, check_finite, unknown_choice
from . import dd_sweep as eng
from .dd_analysis import (_compare, _pct, analyze_epochwise, analyze_modelwise, analyze_samplewise,  # noqa: F401
                          find_threshold)
from .dd_data import DATA_SETS, _check_int_list, _resolve_data, _seeds  # noqa: F401
from .dd_result import DoubleDescentResult
from .dd_runs import parse_label, run_label, sweep
from .sink import open_store
from .sweep import DEFAULT_RETRIES, dd_spec

AXES = ("width", "epochs", "samples")
DEFAULT_WIDTHS = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512)
DEFAULT_EPOCHS = 1000
DEFAULT_SAMPLES = (500, 1000, 2000, 3000, 4000)
DEFAULT_SAMPLE_WIDTHS = (16, 45, 128)
DEFAULT_N_TRAIN = 4000
DEFAULT_N_TEST = 10000
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
    if axis not in AXES:
        raise unknown_choice(WHERE, "axis", axis, AXES, "e.g. axis='width'")
    check_finite(WHERE, noise=noise, lr=lr, tol=tol, min_rise=min_rise)
    if not 0.0 <= noise < 1.0:
        raise bad_argument(WHERE, "noise", noise, "a fraction in [0, 1)", "e.g. noise=0.15")
    if lr <= 0:
        raise bad_argument(WHERE, "lr", lr, "a positive learning rate", "e.g. lr=1e-3")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise bad_argument(WHERE, "epochs", epochs, "a positive integer", "e.g. epochs=1000")
    for arg, v in (("batch_size", batch_size), ("n_train", n_train), ("n_test", n_test), ("eval_points", eval_points)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise bad_argument(WHERE, arg, v, "a positive integer", f"e.g. {arg}=128")
    if not isinstance(policy, str) or not policy:
        raise bad_argument(WHERE, "policy", policy, "an init policy name", "e.g. policy='torch-default'")
    from ..policy.api import canonical_name
    # torch's own init under either spelling is the fast path, stored under the label double-descent stores
    # have always used ('torch-default@w=64'), so old stores resume; other names keep the spelling given
    legacy = lambda p: "torch-default" if isinstance(p, str) and canonical_name(p) == "torch_default" else p  # noqa: E731
    policy, compare = legacy(policy), legacy(compare)
    if compare is not None and (not isinstance(compare, str) or compare == policy):
        raise bad_argument(WHERE, "compare", compare, f"a second policy name, different from policy={policy!r}",
                           "e.g. compare='xavier_uniform'")
    for p in [policy] + ([compare] if compare else []):
        if p != "torch-default":        # fail now, not after loading data: unknown names, bad presets
            eng.make_narrow(3, 2, 2, 0, p, example_inputs=torch.randn(16, 3))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise bad_argument(WHERE, "threads", threads, "None or a positive integer", "e.g. threads=2")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise bad_argument(WHERE, "workers", workers, "None (auto) or a positive integer", "e.g. workers=2")
    if final_only and axis == "epochs":
        raise bad_argument(WHERE, "final_only", final_only, "False with axis='epochs' (the epoch-wise map needs "
                           "the errors at every measured epoch)", "drop final_only (CLI --final-only)")
    if workers is None and threads is not None:
        workers = 1
    if widths is None:
        widths = list(DEFAULT_SAMPLE_WIDTHS if axis == "samples" else DEFAULT_WIDTHS)
    widths = _check_int_list("widths", list(widths), 1, "[8, 16, 32, 64]")
    seeds = _seeds(seeds)
    if axis == "samples":
        samples = list(DEFAULT_SAMPLES if samples is None else samples)
        samples = _check_int_list("samples", samples, 10, "[500, 1000, 2000, 4000]")
        if isinstance(data, str) and max(samples) > n_train:
            raise bad_argument(WHERE, "samples", samples, f"sizes <= n_train={n_train}",
                               f"raise n_train or drop sizes above {n_train}")
    elif samples is not None:
        raise bad_argument(WHERE, "samples", samples, "None unless axis='samples'", "use axis='samples'")
    if log is None:
        import sys
        log = (lambda m: print(f"[double-descent] {m}", file=sys.stderr, flush=True)) if verbose else (lambda m: None)

    data_name, get_data = _resolve_data(data, noise=noise, n_train=n_train, n_test=n_test, data_seed=data_seed,
                                        data_dir=data_dir)
    schedule = [epochs] if final_only else eng.eval_epochs(epochs, eval_points)
    base = {"experiment": "double-descent", "data": data_name, "noise": float(noise) if isinstance(data, str) else None,
            "pool": int(n_train) if isinstance(data, str) else None,
            "n_test": int(n_test) if data_name == "mnist1d" else None, "data_seed": int(data_seed),
            "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "optimizer": "adam(0.9,0.999,1e-8)",
            "loss": "cross-entropy", "model": "mlp in-h-h-out relu", "eval_epochs": f"final({epochs})" if final_only else f"eval_epochs({epochs},{eval_points})",
            "order": "randperm per epoch, generator seeded by order_seed(seed)"}
    failed = []
    spec = dd_spec(data=data if not isinstance(data, str) else data_name,
                   data_options=dict(noise=noise, n_train=n_train, n_test=n_test, data_seed=data_seed,
                                     data_dir=data_dir),
                   policies=[policy] + ([compare] if compare else []), seeds=seeds, widths=widths,
                   train=eng.dd_config(epochs, batch_size, lr, schedule), threads=threads, workers=workers,
                   executor=executor, address=address, max_retries=max_retries)
    spec = replace(spec, data_fingerprint=data_name)
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
