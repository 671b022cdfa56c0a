"""Which models the stacked-MLP kernel can train: plain nn.Sequential MLPs, parsed into an MLPPlan."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

ACT_TYPES = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity",
             nn.LeakyReLU: "leaky_relu"}
ZERO_AT_ZERO = ("relu", "tanh", "identity", "leaky_relu")     # act(0) == 0: a padded unit stays exactly 0


@dataclass
class MLPPlan:
    """What the kernel needs to know about one model: its Linear shapes and the elementwise ops after each."""
    shapes: list = field(default_factory=list)      # (in, out, has_bias) per Linear
    ops: list = field(default_factory=list)         # per Linear: [("act", kind, slope) | ("dropout", p)]
    linears: list = field(default_factory=list)     # attribute paths of the Linear modules, in order

    @property
    def n_in(self) -> int:
        return self.shapes[0][0]

    @property
    def n_out(self) -> int:
        return self.shapes[-1][1]

    def params_per_model(self) -> int:
        return sum(i * o + (o if b else 0) for i, o, b in self.shapes)

    def same_structure(self, other: "MLPPlan") -> bool:
        """Same depth, ops, bias layout, input and output size (hidden widths may differ: width masks)."""
        return (len(self.shapes) == len(other.shapes) and self.ops == other.ops and self.n_in == other.n_in
                and self.n_out == other.n_out and [b for *_, b in self.shapes] == [b for *_, b in other.shapes])


def parse_mlp(model: nn.Module) -> tuple[MLPPlan | None, str]:
    """(plan, "") when `model` is a plain nn.Sequential MLP the kernel can run, else (None, why not)."""
    if not isinstance(model, nn.Sequential) or type(model).forward is not nn.Sequential.forward:
        return None, f"{type(model).__name__} is not a plain nn.Sequential"
    plan = MLPPlan()
    for name, m in model.named_children():
        if isinstance(m, nn.Linear):
            if plan.shapes and plan.shapes[-1][1] != m.in_features:
                return None, "Linear widths do not chain"
            plan.shapes.append((m.in_features, m.out_features, m.bias is not None))
            plan.ops.append([])
            plan.linears.append(name)
        elif isinstance(m, nn.Flatten) and not plan.shapes:
            continue
        elif not plan.shapes:
            return None, f"{type(m).__name__} before the first Linear"
        elif type(m) in ACT_TYPES:
            slope = float(m.negative_slope) if isinstance(m, nn.LeakyReLU) else 0.0
            if isinstance(m, nn.LeakyReLU) and slope <= 0:
                return None, "LeakyReLU with a non-positive slope"
            plan.ops[-1].append(("act", ACT_TYPES[type(m)], slope))
        elif type(m) is nn.Dropout:
            if m.p >= 1.0:
                return None, "Dropout with p=1"
            if m.p > 0:
                plan.ops[-1].append(("dropout", float(m.p)))
        else:
            return None, f"layer {type(m).__name__} is not supported by the stacked-MLP kernel"
    if not plan.shapes:
        return None, "no Linear layer"
    return plan, ""


def parse_stack(models) -> tuple[MLPPlan | None, list, str]:
    """(padded plan, per-model plans, "") when every model is an MLP of one structure (widths may differ)."""
    plans = []
    for m in models:
        p, why = parse_mlp(m)
        if p is None:
            return None, [], why
        if plans and not plans[0].same_structure(p):
            return None, [], "the models differ in depth, layers or input/output size"
        plans.append(p)
    first = plans[0]
    shapes = [(max(p.shapes[l][0] for p in plans), max(p.shapes[l][1] for p in plans), first.shapes[l][2])
              for l in range(len(first.shapes))]
    return MLPPlan(shapes, first.ops, first.linears), plans, ""
