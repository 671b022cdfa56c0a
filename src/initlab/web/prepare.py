"""From Settings to what the page shows at initialization, through the public API only.

    ds = dataset(settings)                        # initlab.data.load (toy2d for moons/circles/spirals)
    side = init_side(settings, ds, policy)        # a model, initlab.init_ -> Plan, initlab.diagnose -> Diagnosis
    side.acts, side.grads                         # per-layer histogram samples (activations, gradients)

Both inits of a comparison are built from the same seed (same architecture draw, same batch), so the
only difference between the two sides is the initialization.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import bad_argument
from .grads import GradTap, histogram_layers
from .settings import BUILT, WHERE, Settings

DIAG_BATCH = 256


@functools.lru_cache(maxsize=8)
def _load(name: str, samples: int, seed: int):
    from ..data import load
    from .toy2d import TOY_SETS, make_toy
    if name in TOY_SETS:
        return make_toy(name, samples, seed), ""
    if name == "points2d":   # seed 000's set: its test points serve as the validation part
        ds = load("points2d", seed=seed, n=samples, n_test=max(20, samples // 4))
        return ds, ""
    probe = load(name, seed=seed, test=False)
    note = ""
    if samples >= probe.n_train:
        if samples > probe.n_train:
            note = f"{name} has {probe.n_train} training samples; all of them are used"
        return probe, note
    return load(name, seed=seed, subsample=samples, test=False), note


def dataset(s: Settings):
    """(Dataset with a validation part, note) for the settings; cached (the page asks again and again)."""
    ds, note = _load(s.dataset, s.samples, s.seed)
    return ds, note


def val_split(ds):
    """(x_val, y_val): the validation part, or the test part for sets without one (points2d)."""
    if ds.x_val is not None and len(ds.x_val):
        return ds.x_val, ds.y_val
    return ds.x_test, ds.y_test


def build(s: Settings, ds) -> nn.Module:
    """The model of the settings, its default init drawn from the seed (the same draw for both sides)."""
    from ..models import MLP, build_model
    with torch.random.fork_rng():
        torch.manual_seed(s.seed)
        if s.model == BUILT:
            widths = [math.prod(ds.input_shape)] + [s.width] * s.depth + [int(ds.n_classes)]
            return MLP(widths, s.activation)
        return build_model(s.model)


def fit_inputs(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """(x in the model's input shape, number of outputs); an error when the model cannot read the data."""
    shape = getattr(model, "initlab_input_shape", None)
    if shape is not None and tuple(x.shape[1:]) != tuple(shape) and math.prod(x.shape[1:]) == math.prod(shape):
        x = x.reshape(len(x), *shape)
    try:
        with torch.no_grad():
            model.eval()
            out = model(x[:2])
    except Exception as e:  # noqa: BLE001 - any failure means "this model does not take this data"
        raise bad_argument(WHERE, "model", type(model).__name__, f"a model that reads {name}'s inputs of shape "
                           f"{tuple(x.shape[1:])}", f"pick another data set, or start the demo with a model for it "
                           f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    finally:
        model.train()
    return x, int(out.shape[-1])


def loss_kind(n_out: int, n_classes: int, name: str) -> str:
    """The engine's loss for a classifier with n_out outputs (cross-entropy; one logit for two classes: bce)."""
    if n_out == 1 and n_classes == 2:
        return "bce"
    if n_out < n_classes:
        raise bad_argument(WHERE, "model", f"{n_out} outputs", f"a model with {n_classes} outputs for {name}",
                           f"end the model with {n_classes} units")
    return "cross_entropy"


def _loss_fn(kind: str):
    if kind == "bce":
        return lambda out, y: F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))
    return F.cross_entropy


@dataclass
class Side:
    """One initialization: the model after init_, its plan and diagnosis, and histogram samples per layer."""
    policy: str
    model: nn.Module
    plan: object
    diagnosis: object
    acts: list = field(default_factory=list)     # [(label, 1-D float tensor)]
    grads: list = field(default_factory=list)


def init_side(s: Settings, ds, policy: str) -> Side:
    """Build the model, initialize it with `policy` (initlab.init_) and diagnose it on a real batch."""
    from .. import diagnose, init_
    model = build(s, ds)
    x = ds.x_train[:DIAG_BATCH]
    y = ds.y_train[:DIAG_BATCH]
    x, n_out = fit_inputs(model, x, ds.name)
    kind = loss_kind(n_out, int(ds.n_classes), ds.name)
    plan = init_(model, policy, seed=s.seed, example_inputs=x)
    with GradTap(model) as tap:       # gradients: diagnostics keeps only their RMS, so the page taps them
        diag = diagnose(model, x, y, loss_fn=_loss_fn(kind))
    acts, grads = histogram_layers(diag, tap)
    return Side(policy, model, plan, diag, acts, grads)


__all__ = ["dataset", "build", "init_side", "Side", "fit_inputs", "loss_kind", "val_split", "DIAG_BATCH"]
