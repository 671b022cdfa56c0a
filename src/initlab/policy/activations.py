"""Recognizing what an op in a forward pass is: a weight layer, an activation, a norm,
a residual add, a shape-only op, or something else.

Used by both tracers (torch.fx nodes and the hooked forward pass), so a module
(nn.ReLU), a function (F.relu, torch.relu) and a method (x.relu()) are the same
thing here: an `Activation` with a name, its constant arguments, and a callable
for the numerical gain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

# Activations with a closed-form rule in `auto`.
SPECIAL = ("relu", "leaky_relu", "tanh", "sigmoid", "selu")
# Other elementwise activations (torch.nn.functional names): gain computed numerically.
ELEMENTWISE = ("gelu", "silu", "mish", "softplus", "elu", "celu", "hardswish", "hardsigmoid", "hardtanh", "relu6",
               "softsign", "tanhshrink", "logsigmoid", "hardshrink", "softshrink", "threshold", "rrelu")
NORM_FUNCS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm")
LAYER_FUNCS = ("linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "embedding", "embedding_bag", "multi_head_attention_forward",
               "lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
               "addmm", "matmul", "mm", "bmm", "baddbmm")   # the matmul ops count only with a weight layer's parameter
ADD = ("add", "iadd", "radd")
PASS = ("view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "contiguous", "squeeze", "unsqueeze",
        "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "getitem",
        "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
        "adaptive_max_pool2d", "adaptive_max_pool3d", "max_pool2d_with_indices", "pad", "to", "float", "double",
        "half", "bfloat16", "type", "clone", "detach", "cat", "concat", "stack", "chunk", "split", "narrow",
        "expand", "expand_as", "view_as", "reshape_as", "flip", "roll", "interpolate", "upsample", "pixel_shuffle",
        "mean", "sum", "neg")
SCALE = ("mul", "imul", "rmul", "truediv", "div", "itruediv", "rtruediv")
IGNORE = ("get", "size", "dim", "numel", "shape", "device", "dtype", "is_floating_point", "requires_grad",
          "ndim", "len", "is_contiguous", "data_ptr", "stride", "item", "tolist", "getattr")

PASS_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
                nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
                nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                nn.modules.padding._ReplicationPadNd, nn.Upsample, nn.PixelShuffle)
NOT_ELEMENTWISE = (nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d, nn.MultiheadAttention, nn.GLU)


@dataclass(frozen=True)
class Activation:
    """An activation as found in the forward pass."""

    name: str                      # e.g. "leaky_relu", "gelu"
    params: tuple = ()             # constant arguments, e.g. (("negative_slope", 0.2),)
    fn: Callable | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def text(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self.params) + ")"

    def param(self, key, default=None):
        return dict(self.params).get(key, default)

    @property
    def key(self):
        return (self.name, self.params)


def op_name(target) -> str:
    """'relu' for F.relu, torch.relu, Tensor.relu, Tensor.relu_, '__add__' -> 'add', operator.iadd -> 'iadd'."""
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    name = name.strip("_")
    if name.endswith("_") and name[:-1]:
        name = name[:-1]
    return name


def activation_of_module(m: nn.Module) -> Activation | None:
    """The activation an nn module computes, or None."""
    if isinstance(m, nn.ReLU):
        return Activation("relu", (), torch.relu)
    if isinstance(m, nn.LeakyReLU):
        a = float(m.negative_slope)
        return Activation("leaky_relu", (("negative_slope", a),), lambda z: F.leaky_relu(z, a))
    if isinstance(m, nn.PReLU):
        # on the meta device the weight has no value: the slope it was built with (nn.PReLU(init=0.25))
        a = float(getattr(m, "init", 0.25)) if m.weight.is_meta else float(m.weight.detach().float().mean())
        return Activation("leaky_relu", (("negative_slope", a),), lambda z: F.leaky_relu(z, a))
    if isinstance(m, nn.Tanh):
        return Activation("tanh", (), torch.tanh)
    if isinstance(m, nn.Sigmoid):
        return Activation("sigmoid", (), torch.sigmoid)
    if isinstance(m, nn.SELU):
        return Activation("selu", (), F.selu)
    if type(m).__module__.startswith("transformers.activations") or type(m).__name__ in HF_MODEL_ACTIVATIONS:
        return _hf_activation(m)
    if isinstance(m, NOT_ELEMENTWISE) or type(m).__module__ != nn.modules.activation.__name__:
        return None
    extra = m.extra_repr()
    params = (("args", extra),) if extra else ()

    def fn(z, m=m):
        return m(z.float()).double()
    return Activation(type(m).__name__.lower(), params, fn)


# Hugging Face's elementwise activation modules (transformers/activations.py) -> the name auto's rules use.
# The gain is computed from the module itself, so a variant's exact formula is what counts.
HF_ACTIVATIONS = {"GELUActivation": "gelu", "NewGELUActivation": "gelu_tanh", "GELUTanh": "gelu_tanh",
                  "PytorchGELUTanh": "gelu_tanh", "FastGELUActivation": "gelu_tanh", "QuickGELUActivation": "quick_gelu",
                  "SiLUActivation": "silu", "ReLUSquaredActivation": "relu_squared", "MishActivation": "mish",
                  "LinearActivation": None, "AccurateGELUActivation": "gelu_tanh", "LaplaceActivation": "laplace"}


# Elementwise activations some Hugging Face models define in their own modeling file (not transformers.activations).
HF_MODEL_ACTIVATIONS = {"BloomGelu": "gelu_tanh"}


def _hf_activation(m: nn.Module) -> Activation | None:
    cls = type(m).__name__
    name = HF_MODEL_ACTIVATIONS.get(cls) or HF_ACTIVATIONS.get(cls, cls.lower())
    if name is None:
        return None

    def fn(z, m=m):
        return m(z.float()).double()
    return Activation(name, (), fn)


def activation_of_call(name: str, args: tuple, kwargs: dict) -> Activation | None:
    """The activation a function/method call computes (`args` without the input), or None."""
    consts = [a for a in args if isinstance(a, (int, float, str, bool)) and not isinstance(a, bool)]
    kw = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str)) and k != "inplace"}
    if name == "relu":
        return Activation("relu", (), torch.relu)
    if name == "leaky_relu":
        a = float(kw.get("negative_slope", consts[0] if consts else 0.01))
        return Activation("leaky_relu", (("negative_slope", a),), lambda z: F.leaky_relu(z, a))
    if name == "tanh":
        return Activation("tanh", (), torch.tanh)
    if name == "sigmoid":
        return Activation("sigmoid", (), torch.sigmoid)
    if name == "selu":
        return Activation("selu", (), F.selu)
    if name in ELEMENTWISE and hasattr(F, name):
        f = getattr(F, name)
        params = tuple((f"arg{i}", v) for i, v in enumerate(consts)) + tuple(sorted(kw.items()))
        return Activation(name, params, lambda z: f(z, *consts, **kw))
    return None
