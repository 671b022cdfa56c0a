"""The dropout rule (seeds.draw_mask) on nn.Module models: forward hooks on their nn.Dropout layers.

In training mode each hooked nn.Dropout's output is replaced by ``input * mask`` with the mask the
stack supplies for that call (calls are counted in forward order, so layer j gets the j-th mask).
Only nn.Dropout itself is covered; other random layers use torch's global generator, which the
autograd stack keeps per model (see AutogradStack).
"""
from __future__ import annotations

from torch import nn


class DropoutHooks:
    """Hooks every nn.Dropout (p > 0) of `module`; `source(j, input)` returns the mask of call j."""

    def __init__(self, module: nn.Module, source):
        self.source, self.calls = source, 0
        self.handles = [m.register_forward_hook(self._hook) for m in module.modules()
                        if type(m) is nn.Dropout and m.p > 0]
        self.layers = [m for m in module.modules() if type(m) is nn.Dropout and m.p > 0]

    def _hook(self, module, inputs, output):
        if not module.training:
            return None
        j = self.calls
        self.calls += 1
        return inputs[0] * self.source(j, module, inputs[0])

    def reset(self) -> None:
        self.calls = 0

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
