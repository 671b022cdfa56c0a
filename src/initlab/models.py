"""A small model zoo named by spec strings, so the CLI and experiments can say which net they mean.

    mlp:784-256-128-10[:relu][:dropout=0.2][:bn]   an MLP with these widths
    deep-mlp:50:256[:tanh]                          50 hidden Linear(256, 256)+act, then Linear(256, 10)
    resmlp:8:128[:relu]                             residual MLP: x + fc2(act(fc1(x))) blocks
    cnn[:relu]                                      small conv net for 1x28x28 images, 10 classes
    seed004        the seed-004 MLP: 784-256-128-10, ReLU, dropout 0.2
    housing-small  2-4-3-1 ReLU (seed 003)       housing-large  2-256-256-256-1 ReLU (seed 003)
    he-binary      2-64-1 ReLU, one logit (seed 000)
    path/to/file.py:factory  or  package.module:factory   your own (a callable returning an nn.Module)
    hf:TYPE[:key=value,...]   a Hugging Face model built from its config, no weights (models_hf.py); a list
                              value in brackets: hf:resnet:hidden_sizes=[16,32],depths=[1,1]

Every zoo model carries `initlab_input_shape` (the shape of one sample) so tools can make inputs.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re

import torch
from torch import nn

from .errors import InitError, bad_argument, did_you_mean, unknown_choice

_ACTS = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "selu": nn.SELU, "gelu": nn.GELU,
    "silu": nn.SiLU, "elu": nn.ELU, "mish": nn.Mish, "softplus": nn.Softplus, "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity, "linear": nn.Identity,
}
ACTIVATIONS = tuple(_ACTS)

PRESETS = {
    "seed004": "mlp:784-256-128-10:relu:dropout=0.2",
    "housing-small": "mlp:2-4-3-1:relu",
    "housing-large": "mlp:2-256-256-256-1:relu",
    "he-binary": "mlp:2-64-1:relu",
    "digits-mlp": "mlp:64-128-128-10:relu",
}


def activation(name: str) -> nn.Module:
    """nn.Module for an activation name; 'leaky_relu=0.2' sets the slope."""
    base, _, arg = str(name).partition("=")
    if base not in _ACTS:
        raise unknown_choice("activation", "act", name, ACTIVATIONS, "e.g. mlp:784-256-10:tanh")
    if base == "leaky_relu" and arg:
        return nn.LeakyReLU(float(arg))
    return _ACTS[base]()


class MLP(nn.Sequential):
    """Linear -> [BatchNorm] -> act -> [Dropout] for each hidden layer, a plain Linear at the end."""

    def __init__(self, widths, act="relu", dropout=0.0, batchnorm=False):
        if len(widths) < 2 or any(int(w) < 1 for w in widths):
            raise bad_argument("MLP", "widths", widths, "at least two positive widths, e.g. [784, 256, 10]",
                               "write the spec as mlp:IN-HIDDEN-...-OUT")
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                if batchnorm:
                    layers.append(nn.BatchNorm1d(b))
                layers.append(activation(act))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.initlab_input_shape = (int(widths[0]),)


class ResBlock(nn.Module):
    """x + fc2(act(fc1(x))): the residual branch whose last layer Fixup / auto scale."""

    def __init__(self, width, act="relu"):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.act = activation(act)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class ResMLP(nn.Module):
    """inp -> act -> `depth` ResBlocks of `width` -> head: a residual MLP (Fixup, zero-init-residual, auto)."""

    def __init__(self, depth, width, act="relu", n_in=None, n_out=10):
        super().__init__()
        n_in = n_in or width
        self.inp = nn.Linear(n_in, width)
        self.act = activation(act)
        self.blocks = nn.Sequential(*[ResBlock(width, act) for _ in range(depth)])
        self.head = nn.Linear(width, n_out)
        self.initlab_input_shape = (n_in,)

    def forward(self, x):
        return self.head(self.blocks(self.act(self.inp(x))))


class SmallCNN(nn.Module):
    """conv(1->16) act pool conv(16->32) act pool -> linear: a 28x28, 10-class baseline."""

    def __init__(self, act="relu", n_out=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), activation(act), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), activation(act), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 7 * 7, n_out)
        self.initlab_input_shape = (1, 28, 28)

    def forward(self, x):
        if x.dim() == 2:
            x = x.view(-1, 1, 28, 28)
        return self.head(self.features(x).flatten(1))


def _dropout(text: str) -> float:
    """The p of a `dropout=p` option: a probability in [0, 1) (1 would zero every unit; nan is no number)."""
    try:
        p = float(text)
    except ValueError:
        p = None
    if p is None or not 0.0 <= p < 1.0:   # also refuses nan (every comparison with nan is False)
        raise bad_argument("build_model", "dropout", text, "a probability in [0, 1)", "e.g. mlp:784-256-10:relu:dropout=0.2")
    return p


def _options(parts):
    act, dropout, bn = "relu", 0.0, False
    for p in parts:
        if p.startswith("dropout="):
            dropout = _dropout(p.split("=", 1)[1])
        elif p == "bn":
            bn = True
        elif p:
            activation(p)  # validates
            act = p
    return act, dropout, bn


def build_model(spec) -> nn.Module:
    """An nn.Module from a spec string (see module docstring), a module (returned as is) or a factory."""
    if isinstance(spec, nn.Module):
        return spec
    if callable(spec):
        return spec()
    if not isinstance(spec, str) or not spec:
        raise bad_argument("build_model", "spec", spec, "a model spec string such as 'mlp:784-256-10:relu'",
                           "see `initlab.models` for the zoo")
    spec = PRESETS.get(spec, spec)
    kind, _, rest = spec.partition(":")
    if kind == "hf":
        from .models_hf import build_hf
        return build_hf(spec)
    parts = rest.split(":") if rest else []
    try:
        if kind == "mlp":
            widths = [int(w) for w in parts[0].split("-")]
            act, dropout, bn = _options(parts[1:])
            return MLP(widths, act, dropout, bn)
        if kind == "deep-mlp":
            depth, width = int(parts[0]), int(parts[1])
            act, dropout, bn = _options(parts[2:])
            return MLP([width] * (depth + 1) + [10], act, dropout, bn)
        if kind == "resmlp":
            depth, width = int(parts[0]), int(parts[1])
            act, _, _ = _options(parts[2:])
            return ResMLP(depth, width, act)
        if kind == "cnn":
            act, _, _ = _options(parts)
            return SmallCNN(act)
    except InitError:
        raise
    except (IndexError, ValueError):
        raise bad_argument("build_model", "spec", spec, f"a valid '{kind}' spec, e.g. "
                           + {"mlp": "mlp:784-256-10:relu", "deep-mlp": "deep-mlp:50:256:tanh",
                              "resmlp": "resmlp:8:128:relu", "cnn": "cnn:relu"}.get(kind, "mlp:784-256-10"),
                           "check the widths are integers separated by '-'") from None
    if re.match(r"^[\w./\\-]+(\.py)?:\w+$", spec) and (spec.split(":")[0].endswith(".py") or "." in spec.split(":")[0]):
        return _load_factory(spec)
    choices = ["mlp:...", "deep-mlp:...", "resmlp:...", "cnn", *PRESETS, "file.py:factory", "module:factory",
               "hf:TYPE"]
    hint = did_you_mean(kind, ["mlp", "deep-mlp", "resmlp", "cnn", "hf", *PRESETS])
    raise bad_argument("build_model", "spec", spec, "one of " + ", ".join(repr(c) for c in choices),
                       (hint.strip() + " " if hint else "") + "e.g. initlab plan mlp:784-256-10:relu")


def _load_factory(spec: str) -> nn.Module:
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        if not os.path.exists(target):
            raise bad_argument("build_model", "spec", spec, "an existing python file", f"check the path {target!r}")
        modspec = importlib.util.spec_from_file_location("initlab_user_model", target)
        mod = importlib.util.module_from_spec(modspec)
        _user_code(spec, "importing", modspec.loader.exec_module, mod)
    else:
        mod = _user_code(spec, "importing", importlib.import_module, target)
    if not hasattr(mod, attr):
        raise bad_argument("build_model", "spec", spec, f"a name defined in {target}", f"define {attr}() there")
    obj = getattr(mod, attr)
    model = _user_code(spec, f"calling {attr}()", obj) if callable(obj) and not isinstance(obj, nn.Module) else obj
    if not isinstance(model, nn.Module):
        raise bad_argument("build_model", "spec", spec, "a factory returning torch.nn.Module", f"make {attr}() return the model")
    return model


def _user_code(spec: str, doing: str, fn, *args):
    """Run the user's module or factory: whatever it raises, even sys.exit(), becomes one InitError."""
    try:
        return fn(*args)
    except InitError:
        raise
    except SystemExit as e:   # a factory must not end the process (the CLI would exit with its code, silently)
        raise InitError(f"build_model: spec={spec!r}: {doing} called sys.exit({e.code!r}). Fix: make the "
                        "factory return an nn.Module instead of exiting") from None
    except Exception as e:  # noqa: BLE001 - the user's error, reported on one line with its type
        raise InitError(f"build_model: spec={spec!r}: {doing} raised {type(e).__name__}: {e}. Fix: run the factory "
                        "on its own to debug it (INITLAB_DEBUG=1 shows the traceback)") from e


def example_inputs(model: nn.Module, batch: int = 64, *, seed: int = 0) -> torch.Tensor:
    """Standard-normal inputs for `model` (needs `initlab_input_shape`, which zoo models carry), or token ids for a
    model carrying `initlab_token_inputs` = (vocabulary, sequence length) (hf: specs of text models)."""
    tokens = getattr(model, "initlab_token_inputs", None)
    shape = getattr(model, "initlab_input_shape", None)
    if getattr(model, "initlab_inputs_unknown", False):      # hf: models whose batch initlab cannot guess
        raise bad_argument("example_inputs", "model", type(model).__name__, "a model whose input shape is known",
                           "pass inputs explicitly (this model wants more than token ids or images)")
    if shape is None and tokens is None:
        first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
        if isinstance(first, nn.Linear):
            shape = (first.in_features,)
        else:
            raise bad_argument("example_inputs", "model", type(model).__name__,
                               "a model whose input shape is known", "pass inputs explicitly (e.g. --data NAME)")
    # Inputs get their own random stream: seeding it with `seed` itself would make the batch
    # the very numbers that init_(model, policy, seed=seed) draws for the first weight, which
    # correlates inputs with weights and biases data-dependent steps (LSUV, calibration, diagnose).
    g = torch.Generator().manual_seed((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2 ** 63)
    if tokens is not None:
        return torch.randint(0, tokens[0], (batch, tokens[1]), generator=g)
    return torch.randn((batch, *shape), generator=g)


__all__ = ["build_model", "example_inputs", "activation", "MLP", "ResBlock", "ResMLP", "SmallCNN", "ACTIVATIONS",
           "PRESETS"]
