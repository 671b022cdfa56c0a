"""`initlab.plan`, `initlab.init_`, `initlab.list_policies`: the model-level entry points."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import InitError, bad_argument, unknown_choice
from ..schemes import Scheme, fans_from_shape, get_scheme, list_schemes
from .base import Context, RulesPolicy, SchemePolicy, normalize_bias
from .keep import check_patterns, check_patterns_match
from .plans import Plan, Row, law_of
from .presets import PRESETS
from .rules import Rule
from .targets import collect
from .verify import fingerprint


def list_policies() -> list[str]:
    """Names of the presets, spelled like scheme names (underscores; the hyphenated spellings such as
    'torch-default' are accepted too).  Any registered scheme name is a policy too."""
    return list(PRESETS)


def canonical_name(name: str) -> str:
    """The canonical spelling of a policy name: a preset's key ('torch-default' -> 'torch_default'), a scheme's
    registered name ('he_normal' -> 'kaiming_normal'); any other string comes back stripped (resolve() then
    says what is wrong with it).  Labels compared or stored by name should go through this."""
    if not isinstance(name, str):
        return name
    key = _norm(name)
    if key in PRESETS:
        return key
    try:
        return get_scheme(name).name
    except InitError:
        return name.strip()


def _norm(name: str) -> str:   # the PRESETS key for either spelling
    return name.strip().lower().replace("-", "_")


def resolve(policy):
    """A policy object from a preset name, scheme name, (scheme, kwargs), Rule, rule list or policy object."""
    if isinstance(policy, str):
        key = _norm(policy)
        if key in PRESETS:
            return PRESETS[key]
        try:
            return SchemePolicy(get_scheme(policy).name)
        except InitError:
            raise unknown_choice("plan", "policy", policy, list_policies() + list_schemes(),
                                 "pass a preset (initlab.list_policies()), a scheme name (initlab.list_schemes()) "
                                 "or a list of initlab.Rule") from None
    if isinstance(policy, Scheme):
        return SchemePolicy(policy.name)
    if isinstance(policy, tuple) and len(policy) == 2 and isinstance(policy[0], str) and isinstance(policy[1], dict):
        s = get_scheme(policy[0])
        s.bind(**policy[1])
        return SchemePolicy(s.name, dict(policy[1]))
    if isinstance(policy, (Rule, list)):
        return RulesPolicy.of(policy)
    if hasattr(policy, "decide") and hasattr(policy, "name"):
        return policy
    raise bad_argument("plan", "policy", policy, "a preset name, a scheme name, (scheme, kwargs), an initlab.Rule "
                       "or a list of them", "e.g. policy='auto' or policy=[initlab.Rule('zeros', name='head.*')]")


def check_materialized(where: str, model) -> None:
    """Refuse a model whose lazy layers (nn.LazyLinear, ...) have no shapes yet: there is nothing to plan or
    measure until one forward pass has materialized them (torch's own rule for lazy modules)."""
    if not isinstance(model, nn.Module):
        raise bad_argument(where, "model", type(model).__name__, "a torch.nn.Module",
                           "pass the model itself, e.g. initlab.models.build_model('mlp:784-256-10:relu')")
    lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy:
        raise bad_argument(where, "model", f"a model with uninitialized lazy parameters ({', '.join(lazy[:3])}"
                           f"{' ...' if len(lazy) > 3 else ''})", "a model whose parameters have shapes",
                           "run one forward pass with a real batch first (model(x)), which materializes them")


def plan(model: nn.Module, policy="auto", *, example_inputs=None, seed: int | None = None, bias=None,
         keep=None) -> Plan:
    """What `policy` would do to each parameter of `model`, and why.  Pure: writes nothing, draws nothing.

    bias: None (the policy's default: zeros for a scheme name and auto), "zeros", a float, "keep", a scheme
          name or (scheme, kwargs).  keep: globs of parameter/module names never to write (pretrained parts).

    Example:
        >>> p = initlab.plan(model, "auto", seed=0); print(p); p.apply(model)
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64):
        raise bad_argument("plan", "seed", seed, "None or an int in [0, 2**64 - 1] (what torch.Generator takes)",
                           "e.g. seed=0")
    pol = resolve(policy)
    check_materialized("plan", model)
    if example_inputs is not None and not isinstance(example_inputs, (torch.Tensor, tuple, list, dict)):
        raise bad_argument("plan", "example_inputs", type(example_inputs).__name__,
                           "None, a tensor, a tuple/list of positional inputs or a dict of keyword inputs",
                           "e.g. example_inputs=torch.randn(256, n_features) or {'input_ids': ids}")
    bias_spec = normalize_bias(bias)
    patterns = check_patterns(keep)
    check_patterns_match(model, patterns)
    targets = collect(model, patterns)
    if not targets:
        raise bad_argument("plan", "model", type(model).__name__, "a module with at least one parameter",
                           "pass the model itself (not an activation or container without layers), "
                           "or build its layers first")
    if getattr(pol, "needs_data", False) and example_inputs is None:
        raise bad_argument("plan", "example_inputs", None, f"a batch of inputs: policy {pol.name!r} is data-dependent",
                           f"initlab.plan(model, {pol.name!r}, example_inputs=x) with x a real batch (e.g. 256 samples)")
    ctx = Context(model, targets, bias_spec, example_inputs)
    decisions = pol.decide(ctx)
    method = ctx._topology.method if ctx._topology is not None else None
    notes = list(ctx._topology.notes) if ctx._topology is not None else []
    if example_inputs is not None and ctx._topology is None:
        from .trace import check_inputs
        check_inputs(model, example_inputs)
    rows = [_row(d) for d in decisions]
    options = {"bias": bias, "keep": list(patterns)} if (bias is not None or patterns) else {}
    p = Plan(rows, pol.name, method, seed, notes + ctx.notes, options, example_inputs)
    if any(r.action == "lsuv" for r in rows):
        p.lsuv = pol
    if any(r.action == "calibrate" for r in rows):
        p.calibration = ctx.calibration
    return p


def _row(d) -> Row:
    t = d.target
    shape = t.shape
    fan_in = fan_out = None
    if len(shape) >= 2:
        fan_in, fan_out = fans_from_shape(shape)
    kwargs, law = dict(d.kwargs), None
    if d.scheme is not None:
        s = get_scheme(d.scheme)
        lo, hi = s.dims
        if len(shape) < lo or (hi is not None and len(shape) > hi):
            allowed = f"{lo}+" if hi is None else (f"{lo}" if lo == hi else f"{lo}-{hi}")
            raise InitError(f"plan: scheme {s.name!r} cannot initialize {t.name!r} of shape {tuple(shape)} "
                            f"({type(t.module).__name__}); expected a tensor with {allowed} dims. Fix: give this "
                            "parameter another scheme (e.g. bias='zeros', or a Rule for it), or keep it with "
                            f"initlab.Rule('keep', name={t.name!r}).")
        try:
            kwargs = s.bind(**kwargs)
            law = law_of(s.name, shape, **kwargs)
        except InitError as e:
            raise InitError(f"plan: {t.name!r} (shape {tuple(shape)}): {e}") from None
    return Row(t.name, t.param_name, type(t.module).__name__, tuple(shape), tuple(t.param.shape), t.part,
               fan_in, fan_out, d.scheme, kwargs, law, d.rule, d.reason, d.action,
               fingerprint(t.view(), sample=d.action != "keep"), transposed=t.transposed)


def init_(model: nn.Module, policy="auto", *, example_inputs=None, seed: int | None = None, bias=None,
          keep=None) -> Plan:
    """Plan, then apply: initialize `model` in place with `policy`.  Returns the plan.

    Example:
        >>> initlab.init_(model, "auto", seed=0)
        >>> initlab.init_(model.head, "zeros")                       # only the head
        >>> initlab.init_(model, [initlab.Rule("orthogonal", type=nn.Linear)])
    """
    p = plan(model, policy, example_inputs=example_inputs, seed=seed, bias=bias, keep=keep)
    return p.apply(model)


__all__ = ["plan", "init_", "list_policies", "resolve", "canonical_name", "check_materialized"]
