"""`initlab diagnose MODEL`: per-layer signal propagation of an initialization, with verdicts and fixes.

Exit status 0 when healthy, 1 when problems were found (so it can gate a CI job), 2 on bad usage.
"""
from __future__ import annotations

import json
import os
import sys

from . import _checks as ck
from ._command import command

EXAMPLES = [
    "initlab diagnose deep-mlp:50:256:tanh                    torch's default init: vanishing (exit 1)",
    "initlab diagnose deep-mlp:50:256:tanh --policy auto      healthy (exit 0)",
    "initlab diagnose deep-mlp:20:256:relu --policy uniform   U[0, 1] weights: exploding",
    "initlab diagnose seed004 --policy zeros --brief          symmetric",
    "initlab diagnose seed004 --data fashion-mnist --batch 512 --plot diag.png",
    "initlab diagnose cnn --json | jq '.verdicts[].text'",
]
NOTES = """\
MODEL is a model-zoo spec (initlab.models.build_model): mlp:784-256-10:relu, deep-mlp:50:256:tanh,
resmlp:8:128, cnn, seed004, path/to/file.py:factory ...
Policies: auto, torch_default, fixup, lsuv, ... or any scheme name (initlab schemes); without
--policy the model keeps the init it was built with (torch's default for zoo models).
Without --data the inputs are N(0, 1) of the model's input shape and the backward pass uses a
unit gradient on the output; with --data they are the first N training samples and the loss
is cross-entropy (classification) or MSE (regression).
Thresholds: python -c "import initlab.diagnostics.thresholds as t; help(t)"
"""


def register(sub) -> None:
    p = command(sub, "diagnose", help="check an initialization before training: per-layer signal, verdicts, fixes",
                description="One forward and one backward pass with every layer recorded: activation "
                            "statistics, dead / saturated / identical units, gradient scale per layer, "
                            "then verdicts (healthy, vanishing, exploding, saturated, dead, symmetric, "
                            "non-finite), each with its evidence and a fix.",
                examples=EXAMPLES, notes=NOTES)
    p.add_argument("model", metavar="MODEL", help="model spec, e.g. deep-mlp:50:256:tanh or seed004")
    p.add_argument("--policy", default=None, metavar="P",
                   help="initialize with this policy first (preset or scheme name; default: keep the built init)")
    p.add_argument("--data", default=None, metavar="NAME",
                   help="use the first N training samples of this data set (initlab.data) and its loss")
    p.add_argument("--batch", type=ck.batch("--batch"), default=256, metavar="N", help="batch size (default: 256)")
    p.add_argument("--seed", type=ck.seed(), default=0, metavar="S",
                   help="seed for building the model, the policy and the inputs (default: 0)")
    p.add_argument("--eval", action="store_true", help="run in eval mode (default: train mode, dropout off)")
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--brief", action="store_true", help="print only the verdicts, not the per-layer table")
    p.add_argument("--plot", default=None, metavar="PATH", help="write a PNG: depth profile and histograms "
                   "(a .png path; an existing file is replaced only when it is a PNG)")
    p.add_argument("--force", action="store_true", help="let --plot write a name without .png or replace any file")
    p.set_defaults(func=run)


def _inputs(args, model):
    """(inputs, targets) for the run: N(0, 1) example inputs, or the first N samples of a data set."""
    from ..errors import bad_argument
    from ..models import example_inputs
    if args.data is None:
        return example_inputs(model, args.batch, seed=args.seed), None
    from ..data import load
    ds = load(args.data, seed=args.seed, subsample=args.batch)
    x, y = ds.x_train[:args.batch], ds.y_train[:args.batch]
    want = getattr(model, "initlab_input_shape", None)
    if want is not None and tuple(want) != tuple(ds.input_shape):
        import math
        if math.prod(want) != math.prod(ds.input_shape):
            raise bad_argument("initlab diagnose", "--data", args.data,
                               f"a data set whose samples have the model's input shape {tuple(want)}",
                               f"{args.data} samples have shape {tuple(ds.input_shape)}; pick a model for it, "
                               f"e.g. mlp:{'x'.join(map(str, ds.input_shape))}-256-{ds.n_classes or 1}:relu")
        x = x.reshape(x.shape[0], *want)
    return x, y


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_plot_path(path: str, force: bool) -> None:
    """--plot writes a PNG: refuse another suffix, or an existing file that is not a PNG (a user's notes.txt
    would be overwritten), unless --force; always refuse a folder, or a folder that cannot be written."""
    from pathlib import Path

    from ..errors import bad_argument
    target = Path(path)
    where = "initlab diagnose"
    if target.is_dir():
        raise bad_argument(where, "--plot", path, "a PNG file path, not a folder", f"e.g. --plot {target / 'diag.png'}")
    folder = target.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise bad_argument(where, "--plot", path, "a PNG path in an existing, writable folder",
                           f"create {str(folder)!r} first, or pass another --plot PATH")
    if force:
        return
    if target.suffix.lower() != ".png":
        raise bad_argument(where, "--plot", path, "a path ending in .png", "e.g. --plot diag.png (or add --force)")
    if target.exists():
        try:
            with open(target, "rb") as f:
                head = f.read(len(PNG_SIGNATURE))
        except OSError as e:
            raise bad_argument(where, "--plot", path, "a PNG file that can be replaced",
                               f"{e.strerror or e}; pass another --plot PATH") from None
        if head != PNG_SIGNATURE:
            raise bad_argument(where, "--plot", path, "a new file or an existing PNG (this file is not a PNG, and "
                               "would be overwritten)", "pass another --plot PATH, or add --force to replace it")


def run(args) -> int:
    import torch

    from ..diagnostics import diagnose
    from ..errors import bad_argument
    from ..models import build_model
    if args.batch < 2:
        raise bad_argument("initlab diagnose", "--batch", args.batch, "an int >= 2 (256 is a good size)",
                           "e.g. --batch 256")
    if args.seed < 0:
        raise bad_argument("initlab diagnose", "--seed", args.seed, "an int >= 0", "e.g. --seed 0")
    if args.plot:                      # a usage error (exit 2) before the work, not exit 1 ("problems") after it
        _check_plot_path(args.plot, args.force)
    torch.manual_seed(args.seed)      # zoo models draw their default init from the global RNG
    ck.model_fits(args.model, "initlab diagnose")
    model = build_model(args.model)
    ck.batch_fits(model, args.batch, "initlab diagnose")
    x, y = _inputs(args, model)
    if args.policy is not None:
        from ..policy import init_
        init_(model, args.policy, example_inputs=x, seed=args.seed)
    d = diagnose(model, x, y, train=not args.eval)
    if args.plot:
        d.plot(args.plot)
    if args.json:
        out = d.to_dict()
        out["run"] = {"model": args.model, "policy": args.policy or "as built", "data": args.data,
                      "batch": args.batch, "seed": args.seed, "plot": args.plot}
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(f"model {args.model}, policy {args.policy or 'as built'}, "
              f"inputs {'N(0, 1)' if args.data is None else args.data}, seed {args.seed}")
        print(d.summary() if args.brief else d.table())
    if args.plot:
        print(f"plot written to {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0 if d.healthy else 1
