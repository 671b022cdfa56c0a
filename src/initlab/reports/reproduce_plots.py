"""Figures of the reproductions (matplotlib Agg, imported only when a plot is asked for).

Each function takes the dict a reproduction's experiment() returned and a PNG path, draws, writes and
returns the path; the reproductions hold no plotting code of their own."""
from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> str:
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def he_binary_plot(exp: dict, path: str) -> str:
    """Mean training loss (He vs default, with the source's points) and He's decision region (first seed)."""
    import torch
    plt = _pyplot()
    res, epochs, published = exp["results"], exp["epochs"], exp["published"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    for p, c in (("he_normal", "tab:blue"), ("default", "tab:gray")):
        L = np.array([r["losses"] for r in res[p]])
        ax.plot(np.arange(1, L.shape[1] + 1), L.mean(0), color=c, label=f"{p} (mean of {len(L)} seeds)")
    pe = [e for e in published["loss_at"] if e <= epochs]
    ax.plot(pe, [published["loss_at"][e] for e in pe], "k^", label="source (He, one run)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train BCE")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax = axes[1]
    model, ds = exp["first"]
    g = torch.linspace(0, 1, 101)
    gx, gy = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad():
        z = torch.sigmoid(model(torch.stack([gx.flatten(), gy.flatten()], 1))).view(101, 101)
    ax.contourf(gx, gy, z, levels=[0, 0.5, 1], colors=["#ddf", "#fdd"])   # blue: class 0, red: class 1
    ax.plot([0, 1], [1, 0], "k--", lw=1, label="true boundary x1 + x2 = 1")
    xt, yt = ds.x_train.numpy(), ds.y_train.numpy()
    ax.scatter(xt[:, 0], xt[:, 1], c=yt, cmap="coolwarm", s=14, edgecolors="k", linewidths=0.3, label="train")
    xs, ys = ds.x_test[:200].numpy(), ds.y_test[:200].numpy()
    ax.scatter(xs[:, 0], xs[:, 1], c=ys, cmap="coolwarm", s=8, marker="x", label="test (200 of 1000)")
    ax.set_title(f"He init, seed {exp['seed']}: decision region after {epochs} epochs", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def backprop_plot(path: str, hand: dict, auto: dict, w0: dict, lr: float) -> str:
    """Gradients by hand vs autograd, and the weights before / after one step."""
    plt = _pyplot()
    keys = list(w0)
    x = range(len(keys))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.bar([i - 0.2 for i in x], [hand["gradients"][k] for k in keys], 0.4, label="chain rule by hand")
    ax.bar([i + 0.2 for i in x], [auto["gradients"][k] for k in keys], 0.4, label="torch autograd")
    ax.set_xticks(list(x))
    ax.set_xticklabels(keys)
    ax.set_title("gradients d loss / d w", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.bar([i - 0.2 for i in x], [w0[k] for k in keys], 0.4, color="tab:gray", label="before")
    ax.bar([i + 0.2 for i in x], [hand["updated_weights"][k] for k in keys], 0.4, color="tab:green",
           label=f"after one step (lr {lr})")
    ax.set_xticks(list(x))
    ax.set_xticklabels(keys)
    ax.set_title(f"weights; loss {hand['loss_before']:.4f} -> {hand['loss_after']:.4f}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def constant_and_uniform_plot(path: str, policies, acc, loss, *, published: dict, labels: dict, lr: float,
                              n_seeds: int) -> str:
    """Validation accuracy and last-epoch training loss per policy (mean, 95 % CI) beside the source's."""
    import math
    from ..experiments.reproduce._common import mean_ci
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = range(len(policies))
    for ax, vals, pub_i, title in ((axes[0], acc, 0, "validation accuracy (%)"),
                                   (axes[1], loss, 1, "training loss, last epoch (log scale)")):
        means, errs = [], [[], []]
        for p in policies:
            m, ci = mean_ci(vals[p])
            means.append(m)
            errs[0].append(0 if ci is None or not math.isfinite(ci[0]) else max(0.0, m - ci[0]))
            errs[1].append(0 if ci is None or not math.isfinite(ci[1]) else max(0.0, ci[1] - m))
        ax.bar(xs, means, yerr=errs, color="tab:blue", alpha=0.7, capsize=3, label="ours (mean, 95 % CI)")
        pub = [(i, published[p][pub_i]) for i, p in enumerate(policies) if p in published]
        ax.plot([i for i, _ in pub], [v for _, v in pub], "r^", label="source (one run)")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([labels[p] for p in policies], rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if pub_i == 1:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fashion-MNIST, 784-256-128-10 + dropout 0.2, Adam {lr}, 2 epochs, {n_seeds} seeds", fontsize=10)
    return _save(fig, path)


def housing_plot(path: str, results, *, models: dict, policies, published: dict, source_epochs: dict,
                 n_seeds: int) -> str:
    """Test MSE per epoch of each model and policy, with the source's figures as lines."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"torch-default": "tab:gray", "xavier_normal": "tab:blue", "auto": "tab:green"}
    for ax, model in zip(axes, models):
        for p in policies:
            curves = np.array(results[(model, p)]["curves"], dtype=float)
            ep = np.arange(1, curves.shape[1] + 1)
            ax.plot(ep, np.nanmean(curves, 0), color=colors[p], label=p, marker="o" if len(ep) < 5 else None)
        for (m, p), v in published.items():
            if m == model:
                ax.axhline(v, color="r", ls="--", lw=1, label=f"source ({p}, {source_epochs[model]} epochs)")
        ax.set_title(f"{models[model]}: test MSE, mean of {n_seeds} seeds", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test MSE")
        ax.set_ylim(0.8, 1.6)
        ax.legend(fontsize=8)
    return _save(fig, path)


def symmetry_plot(path: str, mats, seed: int) -> str:
    """|w_i - w_j| between the hidden units of layer 1 after training: 0 everywhere = identical units."""
    plt = _pyplot()
    keys = [("fmnist", "constant"), ("fmnist+dropout", "constant"), ("fmnist", "torch-default")]
    vmax = max(float(mats[k].max()) for k in keys) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, k in zip(axes, keys):
        im = ax.imshow(mats[k], vmin=0, vmax=vmax, cmap="viridis")
        ax.set_title(f"{k[0]} / {k[1]}: max {float(mats[k].max()):.3g}", fontsize=9)
        ax.set_xlabel("hidden unit")
        ax.set_ylabel("hidden unit")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="max |w_i - w_j| after training")
    fig.suptitle(f"Fashion-MNIST, hidden layer 1 (256 units), seed {seed}: 0 everywhere = all units identical",
                 fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def bad_init_logistic_plot(path: str, res: dict, policies, *, bad_w: float, bad_b: float, lr: float, batch: int,
                           n_seeds: int) -> str:
    """Training MSE per epoch (mean and range over seeds) of the bad, default and Xavier inits."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {"bad": "tab:red", "default": "tab:blue", "xavier": "tab:green"}
    for p in policies:
        L = np.array([r["losses"] for r in res[p]])
        ep = np.arange(1, L.shape[1] + 1)
        ax.plot(ep, L.mean(0), color=colors[p],
                label={"bad": f"bad (w={bad_w:g}, b={bad_b:g})", "default": "torch default",
                       "xavier": "Xavier uniform"}[p])
        if len(L) > 1:
            ax.fill_between(ep, L.min(0), L.max(0), color=colors[p], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("train MSE (mean over batches)")
    ax.set_title(f"logistic regression, MSE, SGD lr {lr:g}, batch {batch}: mean and range over {n_seeds} seeds",
                 fontsize=9)
    ax.legend()
    return _save(fig, path)


def perceptron_plot(path: str, out: dict, n_points: int) -> str:
    """Mistakes per epoch of the perceptron rule, one line per seed, separable vs XOR-like."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, color in (("separable", "tab:blue"), ("xor", "tab:red")):
        for i, r in enumerate(out[kind]):
            ax.plot(range(1, len(r["mistakes"]) + 1), r["mistakes"], color=color, alpha=0.6, lw=1,
                    label=("separable" if kind == "separable" else "XOR-like") if i == 0 else None)
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mistakes in the epoch")
    ax.set_title(f"perceptron rule, {n_points} points, one line per seed")
    ax.legend()
    return _save(fig, path)


# ----------------------------------------------------------------------------- composition
def _drawers():
    """Reproduction name -> (PNG file name, draw(exp, r, path)); each reads what its experiment() returned."""
    from ..experiments.reproduce import (backprop, bad_init_logistic, constant_and_uniform, housing,
                                         perceptron)
    return {
        "backprop": ("gradients_and_weights.png",
                     lambda e, r, p: backprop_plot(p, e["hand"], e["auto"], backprop.W0, backprop.LR)),
        "bad-init-logistic": ("loss.png", lambda e, r, p: bad_init_logistic_plot(
            p, e["results"], bad_init_logistic.POLICIES, bad_w=bad_init_logistic.BAD_W, bad_b=bad_init_logistic.BAD_B,
            lr=bad_init_logistic.LR, batch=bad_init_logistic.BATCH, n_seeds=len(r.seeds))),
        "he-binary": ("he_binary.png", lambda e, r, p: he_binary_plot(e, p)),
        "symmetry": ("unit_differences.png", lambda e, r, p: symmetry_plot(p, e["first_layer_diff"], r.seeds[0])),
        "perceptron": ("mistakes_per_epoch.png", lambda e, r, p: perceptron_plot(p, e["out"], perceptron.N_POINTS)),
        "housing": ("test_mse.png", lambda e, r, p: housing_plot(
            p, e["results"], models=housing.MODELS, policies=housing.POLICIES, published=housing.PUBLISHED,
            source_epochs=housing.SOURCE_EPOCHS, n_seeds=len(r.seeds))),
        "constant-and-uniform": ("accuracy_and_loss.png", lambda e, r, p: constant_and_uniform_plot(
            p, e["policies"], e["acc"], e["loss"], published=constant_and_uniform.PUBLISHED,
            labels=constant_and_uniform.LABELS, lr=constant_and_uniform.LR, n_seeds=len(r.seeds))),
    }


def draw(r, out_dir) -> list[str]:
    """Draw the plot of Reproduction `r` (from r.experiment) into out_dir; appends to and returns r.plots."""
    import os
    if r.experiment is None:
        raise ValueError(f"reproduction {r.name!r} carries no experiment data to draw (run it in this process)")
    filename, fn = _drawers()[r.name]
    os.makedirs(out_dir, exist_ok=True)
    r.plots.append(fn(r.experiment, r, os.path.join(str(out_dir), filename)))
    return r.plots


def reproduce(name: str, *, seeds=None, budget: str = "full", store=None, out_dir=None, plots: bool = True,
              progress: bool = False, threads: int | None = 1, executor: str = "local", address: str | None = None):
    """``initlab.reproduce``: run reproduction `name` (experiments.reproduce.reproduce, same arguments), then
    draw its PNG into out_dir (default ./initlab-runs/reproduce/NAME/) unless plots=False.

    The experiment returns data; the figure is composed here, one layer up (experiments never import reports)."""
    import os
    import time
    from ..experiments.reproduce import reproduce as run_experiment
    r = run_experiment(name, seeds=seeds, budget=budget, store=store, progress=progress, threads=threads,
                       executor=executor, address=address)
    if plots:
        t0 = time.perf_counter()
        draw(r, os.path.join("initlab-runs", "reproduce", name) if out_dir is None else out_dir)
        r.wall_s += time.perf_counter() - t0
    return r
