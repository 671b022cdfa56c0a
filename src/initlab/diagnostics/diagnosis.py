"""`Diagnosis`: per-layer and per-parameter statistics, verdicts, a table, JSON and a plot."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .thresholds import Thresholds
from .verdicts import Verdict, _clean, num, pct


@dataclass
class LayerStat:
    """Statistics of one recorded module call (its output, and the gradient with respect to it)."""

    index: int                 # call order, 1-based
    depth: int                 # number of weight layers up to and including this one ("layer N" in verdicts)
    name: str                  # module name ("3", "features.0", "act#2" for a module's 2nd call)
    type: str                  # module class name
    family: str | None         # activation family: relu, tanh, sigmoid, leaky_relu, selu, relu_like, other
    shape: tuple
    units: int                 # number of units (features / channels)
    values_per_unit: int       # batch x positions
    weight_layer: bool
    is_output: bool            # belongs to the output layer (the head and anything after it)
    mean: float
    std: float                 # std of all values
    min: float
    max: float
    signal_std: float          # RMS over units of each unit's std across the batch
    ratio: float               # signal_std / the input's signal_std
    dead: float                # ReLU family: fraction of units that are 0 for every sample (else nan)
    saturated: float           # tanh / sigmoid: fraction of saturated outputs (else nan)
    identical: float           # fraction of units that copy another unit (outputs and gradients)
    distinct_units: int
    grad_rms: float            # RMS of d(loss)/d(output) (nan when no gradient reaches it)
    grad_std: float
    grad_ratio: float          # grad_rms / the last hidden layer's grad_rms
    nonfinite: int = 0         # NaN/inf values in the output
    grad_nonfinite: int = 0
    sample: object = field(default=None, repr=False)   # CPU tensor of output values for histograms

    @property
    def base_name(self) -> str:
        return self.name.split("#")[0]

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "sample"}
        d["shape"] = list(self.shape)
        return _clean(d)


@dataclass
class ParamStat:
    name: str
    shape: tuple
    mean: float
    std: float
    norm: float
    grad_std: float
    grad_norm: float
    grad_to_weight: float      # ||grad|| / ||weight||
    fan_in: int | None = None
    fan_out: int | None = None
    requires_grad: bool = True
    nonfinite: int = 0
    grad_nonfinite: int = 0

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["shape"] = list(self.shape)
        return _clean(d)


@dataclass
class Diagnosis:
    """What `initlab.diagnose` found.  ``.healthy``, ``.verdicts``, ``.table()``, ``.to_dict()``, ``.plot(path)``."""

    layers: list[LayerStat]
    params: list[ParamStat]
    input: dict
    thresholds: Thresholds
    settings: dict
    verdicts: list[Verdict] = field(default_factory=list)
    backward_ok: bool = True
    notes: list[str] = field(default_factory=list)
    _modules: dict | None = field(default=None, repr=False)
    output: dict = field(default_factory=dict)     # the output as logits: classes, logit_std, loss (output_scale.py)

    # ------------------------------------------------------------ summary
    @property
    def healthy(self) -> bool:
        """True when the only verdict is 'healthy'."""
        return [v.kind for v in self.verdicts] == ["healthy"]

    @property
    def kinds(self) -> set[str]:
        """The set of verdict kinds, e.g. {'vanishing'}."""
        return {v.kind for v in self.verdicts}

    def verdict(self, kind: str, direction: str | None = None) -> Verdict | None:
        """The first verdict of this kind (and direction), or None."""
        return next((v for v in self.verdicts if v.kind == kind and (direction is None or v.direction == direction)),
                    None)

    # ------------------------------------------------------------ helpers for the verdicts
    def param(self, name: str) -> ParamStat | None:
        if getattr(self, "_by_name", None) is None or len(self._by_name) != len(self.params):
            self._by_name = {p.name: p for p in self.params}
        return self._by_name.get(name)

    def _act_layer_after(self, layer: LayerStat) -> LayerStat | None:
        for l in self.layers[layer.index:]:
            if l.weight_layer:
                return None
            if l.family is not None:
                return l
        return None

    def activation_after(self, layer: LayerStat) -> str | None:
        l = self._act_layer_after(layer)
        return l.family if l is not None else None

    def activation_module_after(self, layer: LayerStat):
        l = self._act_layer_after(layer)
        if l is None or not self._modules:
            return None
        return self._modules.get(l.base_name)

    def weight_layers_between(self, a: int, b: int, *, hidden_only: bool = True) -> list[LayerStat]:
        ls = [l for l in self.layers if l.weight_layer and a <= l.depth <= b and (not hidden_only or not l.is_output)]
        return ls or [l for l in self.layers if l.weight_layer and a <= l.depth <= b]

    def distinct_rows(self, layer: LayerStat):
        """(weight name, rows, distinct rows, the constant value when all entries are equal) or None."""
        import torch
        m = (self._modules or {}).get(layer.base_name)
        w = getattr(m, "weight", None) if m is not None else None
        if not isinstance(w, torch.Tensor) or w.dim() < 2:
            return None
        with torch.no_grad():
            rows = w.detach().reshape(w.shape[0], -1)
            k = int(torch.unique(rows, dim=0).shape[0])
            val = None
            if k == 1:
                flat = rows.flatten()
                if bool((flat == flat[0]).all()):
                    val = float(flat[0])
        return (f"{layer.base_name}.weight", int(rows.shape[0]), k, val)

    # ------------------------------------------------------------ output
    def to_dict(self) -> dict:
        """Everything as plain JSON types (NaN / inf become null)."""
        return {"schema": "initlab.diagnosis/1", "healthy": self.healthy, "kinds": sorted(self.kinds),
                "verdicts": [v.to_dict() for v in self.verdicts], "notes": list(self.notes), "settings": _clean(self.settings),
                "thresholds": self.thresholds.to_dict(), "input": _clean(self.input), "output": _clean(self.output),
                "layers": [l.to_dict() for l in self.layers], "params": [p.to_dict() for p in self.params]}

    def summary(self) -> str:
        """The verdicts, one per line, each with its fix."""
        head = "healthy" if self.healthy else f"{len(self.verdicts)} problem{'s' if len(self.verdicts) != 1 else ''}"
        lines = [f"diagnosis: {head}"]
        for v in self.verdicts:
            lines.append(f"  [{v.kind}{' ' + v.direction if v.direction else ''}] {v.message}")
            if v.fix:
                lines.append(f"      fix: {v.fix}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def table(self, *, params: bool = True) -> str:
        """A terminal table: one row per layer (and per parameter), then the verdicts."""
        s = self.settings
        out = [f"initlab diagnose: {len(self.layers)} layers, batch {s.get('batch')}, {s.get('mode')} mode, "
               f"backward: {s.get('backward')}",
               f"input: signal std {num(self.input.get('signal_std', math.nan))}, "
               f"mean {num(self.input.get('mean', math.nan))}, std {num(self.input.get('std', math.nan))}", ""]
        hdr = (f"{'#':>4} {'lyr':>4}  {'name':<16} {'type':<11} {'units':>6} {'mean':>9} {'std':>9} {'min':>9} "
               f"{'max':>9} {'sig/in':>9} {'grad/last':>9} {'dead':>5} {'sat':>5} {'copy':>5}")
        out += [hdr, "-" * len(hdr)]

        def p(x):
            return "" if x != x else f"{100 * x:.0f}%"
        for l in self.layers:
            name = l.name if len(l.name) <= 16 else "…" + l.name[-15:]
            flag = " !" if l.nonfinite or l.grad_nonfinite else ""
            out.append(f"{l.index:>4} {l.depth:>4}  {name:<16} {l.type[:11]:<11} {l.units:>6} {num(l.mean):>9} "
                       f"{num(l.std):>9} {num(l.min):>9} {num(l.max):>9} {num(l.ratio):>9} {num(l.grad_ratio):>9} "
                       f"{p(l.dead):>5} {p(l.saturated):>5} {p(l.identical):>5}{flag}")
        if params and self.params:
            w = max(16, max(len(q.name) for q in self.params))
            ph = f"{'parameter':<{w}} {'shape':<14} {'mean':>9} {'std':>9} {'grad std':>9} {'|g|/|w|':>9}"
            out += ["", ph, "-" * len(ph)]
            for q in self.params:
                shape = "x".join(str(d) for d in q.shape) or "scalar"
                out.append(f"{q.name:<{w}} {shape:<14} {num(q.mean):>9} {num(q.std):>9} {num(q.grad_std):>9} "
                           f"{num(q.grad_to_weight):>9}")
        out += ["", self.summary()]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"Diagnosis(healthy={self.healthy}, verdicts={[v.kind for v in self.verdicts]}, "
                f"layers={len(self.layers)}, params={len(self.params)})")

    def plot(self, path, *, max_histograms: int = 12):
        """Save a PNG: depth profile (forward signal std and gradient RMS per layer, log scale) and histograms."""
        from .plot import plot_diagnosis
        return plot_diagnosis(self, path, max_histograms=max_histograms)


__all__ = ["Diagnosis", "LayerStat", "ParamStat", "pct"]
