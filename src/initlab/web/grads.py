"""Per-layer samples for the histograms: activations from the diagnosis, gradients tapped by the page.

`initlab.diagnose` keeps a sample of every recorded layer's output (LayerStat.sample) but only the
RMS of the gradient, so `GradTap` adds forward hooks that register a tensor hook on each module
output; the hooks fire during diagnose's own backward pass (torch.autograd.grad computes the
gradient of every recorded output), so no second pass is needed and both pictures come from the same
forward/backward.  Names follow the diagnosis: a module's k-th call (k >= 2) is "name#k".
"""
from __future__ import annotations

import torch

MAX_LAYERS = 16        # ridges per panel; deeper nets show evenly spaced layers (first and last included)
MAX_VALUES = 8192      # values per histogram (a fixed stride through the tensor: deterministic)


def _thin(t: torch.Tensor) -> torch.Tensor:
    v = t.detach().float().flatten().cpu()
    if v.numel() > MAX_VALUES:
        v = v[:: -(-v.numel() // MAX_VALUES)]
    return v


class GradTap:
    """with GradTap(model) as tap: ...forward/backward...;  tap.grads[name] -> gradient sample of that output."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.grads, self.handles, self.calls = model, {}, [], {}

    def __enter__(self):
        for name, m in self.model.named_modules():
            if name and not any(True for _ in m.children()):
                self.handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name):
        def hook(module, inputs, output):
            k = self.calls[name] = self.calls.get(name, 0) + 1
            key = name if k == 1 else f"{name}#{k}"
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(lambda g, key=key: self.grads.__setitem__(key, _thin(g)))
        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
        return False


def _pick(layers, k=MAX_LAYERS):
    if len(layers) <= k:
        return list(layers)
    idx = sorted({round(i * (len(layers) - 1) / (k - 1)) for i in range(k)})
    return [layers[i] for i in idx]


def histogram_layers(diag, tap: GradTap):
    """([(label, activation sample)], [(label, gradient sample)]) for the hidden activation layers.

    The layers are the activation modules before the output layer (for a net without activation
    modules: its hidden weight layers), at most MAX_LAYERS of them."""
    hidden = [l for l in diag.layers if not l.is_output]
    layers = [l for l in hidden if l.family is not None] or [l for l in hidden if l.weight_layer] or hidden
    acts, grads = [], []
    for l in _pick(layers):
        label = f"layer {l.depth} {l.type}"
        acts.append((label, _thin(l.sample) if l.sample is not None else torch.zeros(0)))
        grads.append((label, tap.grads.get(l.name, torch.zeros(0))))
    return acts, grads


__all__ = ["GradTap", "histogram_layers", "MAX_LAYERS"]
