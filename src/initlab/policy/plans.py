"""`Plan`: what would be done to each parameter and why.  Printing it shows a table,
`to_dict()` gives JSON-ready data, `apply(model)` is the only step that writes,
and `verify(model)` checks the tensors against the plan.
"""
from __future__ import annotations

import dataclasses

import functools
import inspect
import math
import weakref
from dataclasses import dataclass, field

import torch

from ..errors import InitError
from ..schemes import get_scheme
from . import iid as _iid
from . import verify as _verify
from .targets import part_view




def law_of(scheme: str, shape: tuple, **kwargs) -> dict | None:
    """Scheme.describe(shape, **kwargs): EMPTY_LAW for a zero-element shape, after the same argument checks."""
    return get_scheme(scheme).describe(tuple(shape), **kwargs)


@dataclass
class Row:
    """One parameter (or a part of one) in a plan."""

    name: str                 # qualified name, with [part] for split parameters
    param: str                # qualified parameter name
    module_type: str
    shape: tuple              # shape of what this row writes
    param_shape: tuple        # shape of the whole parameter (checked again at apply time)
    part: tuple | None        # (label, start, stop) along dim 0, or None
    fan_in: int | None
    fan_out: int | None
    scheme: str | None        # None: kept as it is
    kwargs: dict
    law: dict | None          # Scheme.describe(shape, **kwargs): dist, std, low/high, ...
    rule: str
    reason: str
    action: str = "init"      # init | keep | lsuv | calibrate
    fingerprint: str | None = None
    applied: dict | None = None
    transposed: bool = False  # the parameter is stored (in, out) (e.g. HF Conv1D): rows see its transpose

    def view(self, p):
        """The part of parameter `p` this row writes, as the row sees it (transposed layouts as (out, in); one
        expert's block of a 3-D experts weight: targets.part_view)."""
        return part_view(p, self.part, self.transposed)

    @property
    def spread(self) -> str:
        """The std or bound, for the table."""
        law = self.law
        if self.action == "keep":
            return "(kept)"
        if law is None and self.action == "calibrate" and (self.applied or {}).get("centered"):
            return "centred on data"      # a bias set from the batch (calibrate.apply_rows): no law
        if law is None:
            return "?"
        d = law["dist"]
        if d == "empty":
            return "(empty)"
        if d == "uniform":
            if abs(law["low"] + law["high"]) < 1e-15:
                return f"+-{law['high']:.4g}"
            return f"[{law['low']:.4g}, {law['high']:.4g})"
        if d == "constant":
            return f"= {law['value']:g}"
        if d == "exact":
            return "exact"
        if d == "orthogonal" and self.action == "lsuv" and self.applied is None:
            return "at apply"
        if self.action == "calibrate" and self.applied is None:
            return f"~std {law['std']:.4g}"   # the draw; calibration rescales it at apply time
        return f"std {law['std']:.4g}"

    @property
    def scheme_text(self) -> str:
        if self.scheme is None:
            return "keep"
        defaults = _defaults(self.scheme)
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items()
                         if k not in defaults or defaults[k] != v)
        return f"{self.scheme}({args})" if args else self.scheme

    def to_dict(self) -> dict:
        return {"name": self.name, "param": self.param, "module_type": self.module_type, "shape": list(self.shape),
                "part": None if self.part is None else {"label": self.part[0], "start": self.part[1],
                                                        "stop": self.part[2]},
                "fan_in": self.fan_in, "fan_out": self.fan_out, "scheme": self.scheme, "kwargs": dict(self.kwargs),
                "law": None if self.law is None else dict(self.law), "std": (self.law or {}).get("std"),
                "bound": (self.law or {}).get("high"), "rule": self.rule, "reason": self.reason,
                "action": self.action, "applied": self.applied}


@functools.lru_cache(maxsize=None)
def _strict(fn) -> dict:
    """`strict=True` for the built-ins that take it: under torch's names a scheme follows torch (sparse_'s
    zero positions from the global RNG, fp16 trunc_normal_'s biased law); a plan wants initlab's exact,
    seeded law (docs/torch-compat.md)."""
    try:
        return {"strict": True} if "strict" in inspect.signature(fn).parameters else {}
    except (TypeError, ValueError):
        return {}


def _defaults(scheme: str) -> dict:
    import inspect
    sig = inspect.signature(get_scheme(scheme).fn)
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def _short(v):
    return f"{v:.4g}" if isinstance(v, float) else repr(v)


@dataclass
class Plan:
    """The result of `initlab.plan`: rows in the order draws happen."""

    rows: list
    policy: str
    method: str | None = None     # how activations were found (auto & co), None when not needed
    seed: int | None = None
    notes: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    example_inputs: object = field(default=None, repr=False)
    lsuv: object = field(default=None, repr=False)
    calibration: object = field(default=None, repr=False)   # base.Calibration for auto's calibrate rows

    # ------------------------------------------------------------------ reading
    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r} in the plan; rows: {[r.name for r in self.rows][:8]}...")

    def rows_for(self, param: str) -> list:
        return [r for r in self.rows if r.param == param]

    def to_dict(self) -> dict:
        d = {"policy": self.policy, "method": self.method, "seed": self.seed, "notes": list(self.notes),
             "options": dict(self.options), "rows": [r.to_dict() for r in self.rows]}
        if self.calibration is not None:
            d["calibration"] = self.calibration.to_dict()
        return d

    def __str__(self) -> str:
        head = ["name", "shape", "fan_in", "fan_out", "scheme", "std/bound", "rule", "reason"]
        body = [[r.name, "x".join(map(str, r.shape)), "" if r.fan_in is None else str(r.fan_in),
                 "" if r.fan_out is None else str(r.fan_out), r.scheme_text, r.spread, r.rule, r.reason]
                for r in self.rows]
        widths = [min(max(len(h), *(len(b[i]) for b in body)) if body else len(h), cap)
                  for i, (h, cap) in enumerate(zip(head, (40, 14, 7, 7, 48, 12, 28, 10 ** 6)))]

        def line(cells):
            return "  ".join((c if len(c) <= w else c[:w - 1] + "~").ljust(w) for c, w in zip(cells, widths)).rstrip()
        kept = sum(r.action == "keep" for r in self.rows)
        title = (f"Plan: policy {self.policy!r}, {len(self.rows)} rows ({len(self.rows) - kept} to write, {kept} kept)"
                 + (f", activations found by {self.method}" if self.method else "")
                 + (f", seed {self.seed}" if self.seed is not None else ", global RNG"))
        out = [title, line(head), line(["-" * w for w in widths])] + [line(b) for b in body]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    __repr__ = __str__

    # ------------------------------------------------------------------ writing
    def _resolve(self, model) -> dict:
        """Check the whole plan against `model` before writing anything."""
        if not isinstance(model, torch.nn.Module):
            raise InitError(f"Plan.apply: model={type(model).__name__} is not allowed; expected a torch.nn.Module. "
                            "Fix: pass the model the plan was made for.")
        params = dict(model.named_parameters())
        problems = []
        for r in self.rows:
            p = params.get(r.param)
            if p is None:
                problems.append(f"{r.param}: not a parameter of this model")
            elif tuple(p.shape) != tuple(r.param_shape):
                problems.append(f"{r.param}: shape {tuple(p.shape)} != planned {tuple(r.param_shape)}")
            elif r.action != "keep" and not p.dtype.is_floating_point:
                problems.append(f"{r.param}: dtype {p.dtype} cannot hold {r.scheme}")
        if problems:
            raise InitError("Plan.apply: the plan does not fit this model, nothing was written: "
                            + "; ".join(problems[:6]) + ("; ..." if len(problems) > 6 else "")
                            + ". Fix: make a new plan for this model with initlab.plan(model, ...).")
        return params

    def apply(self, model) -> "Plan":
        """Write every planned tensor (the only step that writes).  Returns the plan (LSUV and calibration
        scales filled in: row.applied, and row.kwargs/law scaled by the measured factor).

        One torch.Generator seeded with `seed` drives every draw, in row order (None: the global RNG).
        Tensors on other devices are drawn on the CPU generator and copied, so results do not depend on the device.
        Then LSUV rows, and auto's calibrate rows, are rescaled on their batch in forward order (lsuv.py).
        Applying a plan again draws from the planned laws again (not from the rescaled ones).
        """
        params = self._resolve(model)
        if any(r.action == "lsuv" for r in self.rows) and self.example_inputs is None:
            raise InitError("Plan.apply: this plan needs example_inputs (lsuv) and has none. "
                            "Fix: initlab.plan(model, 'lsuv', example_inputs=batch).")
        if any(r.action == "calibrate" for r in self.rows) and self.calibration is None:
            raise InitError("Plan.apply: this plan has calibrate rows but no calibration batch. "
                            "Fix: make it with initlab.plan(model, 'auto', example_inputs=batch).")
        for r in self.rows:  # a plan applied before: draw from the planned law, then measure again
            if r.action in ("lsuv", "calibrate") and r.applied and "planned_kwargs" in r.applied:
                r.kwargs = dict(r.applied["planned_kwargs"])
                r.law = law_of(r.scheme, r.shape, **r.kwargs)
                r.applied = None
        gen = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        with torch.no_grad():
            for r in self.rows:
                if r.action == "keep":
                    continue
                view = r.view(params[r.param])
                if view.is_meta:       # deferred init: no storage to write (nor CPU memory to spend on draws)
                    continue
                fn = get_scheme(r.scheme).fn
                if r.transposed and _iid.draw(params[r.param], r, gen):
                    continue           # an i.i.d. law drawn straight into the stored (in, out) tensor
                if r.transposed or (gen is not None and view.device.type != "cpu"):
                    # a transposed view is drawn into a contiguous buffer first: in-place draws on a
                    # non-contiguous view are ~8x slower (HF Conv1D: most of GPT-2's weights)
                    tmp = torch.empty(view.shape, dtype=view.dtype, device="cpu" if gen is not None else view.device)
                    fn(tmp, **r.kwargs, **_strict(fn), generator=gen)
                    view.copy_(tmp)
                else:
                    fn(view, **r.kwargs, **_strict(fn), generator=gen)
        if any(r.action == "lsuv" for r in self.rows):
            from .lsuv import run
            run(model, self)
        if any(r.action == "calibrate" for r in self.rows):
            from .lsuv import calibrate
            calibrate(model, self)
        self.__dict__.setdefault("_applied_to", weakref.WeakSet()).add(model)
        return self

    def with_seed(self, seed: int | None) -> "Plan":
        """The same rows drawn with another seed: what initlab.plan(model, policy, seed=seed) would give for
        a model of the same signature, without planning again (compare plans once per policy).  A fresh plan
        object: which models it was applied to starts empty.  Not for plans whose apply measures the model
        (lsuv, calibrate rows): apply rescales those rows in place."""
        if any(r.action in ("lsuv", "calibrate") for r in self.rows):
            raise InitError("Plan.with_seed: this plan measures the model when applied (lsuv/calibrate rows). "
                            "Fix: make a new plan per model with initlab.plan(model, ..., example_inputs=batch).")
        return dataclasses.replace(self, seed=seed)

    def __getstate__(self):           # picklable: which models this plan was applied to stays in this process
        state = dict(self.__dict__)
        state.pop("_applied_to", None)
        return state

    def verify(self, model) -> list[str]:
        """Problems where the model's tensors do not match the plan ([] = everything matches)."""
        params = self._resolve(model)
        written = model in self.__dict__.get("_applied_to", ())
        out = []
        for r in self.rows:
            out.extend(_verify.check(r, r.view(params[r.param]), written))
        return out


def law_text(law: dict | None) -> str:
    if law is None:
        return "?"
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}"
                     for k, v in law.items())
