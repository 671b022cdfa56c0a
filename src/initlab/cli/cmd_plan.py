"""`initlab plan MODEL`: the initialization plan for a model, as a table or JSON (a dry run).

MODEL is a model-zoo spec (initlab.models.build_model): mlp:784-256-128-10:relu, deep-mlp:50:256:tanh,
seed004, path/to/file.py:factory ...  --apply-check applies the plan to the in-memory model and verifies it.
"""
from __future__ import annotations

import json

from ..errors import bad_argument
from . import _checks as ck
from ._command import command


def register(sub) -> None:
    p = command(sub, "plan", help="show what a policy would do to each parameter of a model (dry run)",
                description="Plan an initialization: one row per parameter with its fans, scheme, "
                            "std/bound, the rule that matched and why. Nothing is written to disk.",
                examples=["initlab plan mlp:784-256-128-10:relu", "initlab plan deep-mlp:50:256:tanh --policy auto --json",
                          "initlab plan seed004 --policy lsuv --apply-check",
                          "initlab plan resmlp:8:128 --policy fixup --seed 0",
                          "initlab plan hf:mixtral          # a Hugging Face config, no weights (on meta if big)"],
                notes="Policies: auto, torch_default, gpt2, fixup, zero_init_residual, zero, lsuv, bert,\n"
                      "or any scheme name (initlab schemes).")
    p.add_argument("model", metavar="MODEL", help="model spec, e.g. mlp:784-256-10:relu or seed004")
    p.add_argument("--policy", default="auto", help="preset or scheme name (default: auto)")
    p.add_argument("--bias", default=None, help="bias option: zeros, keep, a float, or a scheme name")
    p.add_argument("--seed", type=ck.seed(), default=0, help="generator seed for --apply-check (default: 0)")
    p.add_argument("--batch", type=ck.batch("--batch"), default=256, help="example batch size for lsuv and tracing (default: 256)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--apply-check", action="store_true",
                   help="apply the plan to the in-memory model, then verify it (exit 1 on a mismatch)")
    p.set_defaults(func=run)


def _bias(value):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def run(args) -> int:
    from ..models import build_model, example_inputs
    from ..policy import plan
    from ..policy.api import resolve
    if args.batch < 2:
        raise bad_argument("initlab plan", "--batch", args.batch, "an int >= 2 (lsuv and calibration measure a "
                           "variance over it; 256 is a good size)", "e.g. --batch 256")
    ck.model_fits(args.model, "initlab plan")
    model = build_model(args.model)
    ck.batch_fits(model, args.batch, "initlab plan")
    pol = resolve(args.policy)
    meta = any(t.is_meta for t in model.parameters())    # an hf: config too big to build: planned, never run
    if meta and args.apply_check:
        raise bad_argument("initlab plan", "--apply-check", True, "a model with values (this one is on the meta "
                           "device: too big to build here, so nothing would be written or checked)",
                           "drop --apply-check, or use a smaller config (hf:TYPE:num_hidden_layers=2,...)")
    if meta and getattr(pol, "needs_data", False):
        raise bad_argument("initlab plan", "--policy", args.policy, "a policy that needs no batch (this model is on "
                           "the meta device: too big to build here, so it cannot be run)",
                           "use --policy auto, or a smaller config (hf:TYPE:num_hidden_layers=2,...)")
    try:  # standard-normal inputs of the zoo model's shape: for lsuv, and for tracing models fx cannot
        x = None if meta else example_inputs(model, args.batch, seed=args.seed)
    except Exception:  # noqa: BLE001 - inputs are optional unless the policy needs them
        if getattr(pol, "needs_data", False):
            raise
        x = None
    p = plan(model, pol, example_inputs=x, seed=args.seed, bias=_bias(args.bias))
    problems = None
    if args.apply_check:
        p.apply(model)
        problems = p.verify(model)
    if args.json:
        d = p.to_dict()
        if problems is not None:
            d["apply_check"] = {"ok": not problems, "problems": problems}
        from ..experiments.store import json_safe
        print(json.dumps(json_safe(d), indent=2, allow_nan=False))       # strict JSON: NaN/inf -> null
    else:
        print(p)
        if problems is not None:
            print("apply-check: ok (every tensor matches the plan)" if not problems
                  else "apply-check: FAILED\n  " + "\n  ".join(problems))
    return 1 if problems else 0
