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
