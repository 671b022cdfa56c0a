"""Marks for transfer learning: modules whose parameters a policy must not write.

`keep(module)` marks a module as pretrained; `freeze(module)` also sets
requires_grad=False.  Planning treats a parameter as kept when it (or a module
above it) is marked, when requires_grad is False, or when a `keep=` glob
matches its qualified name or the name of a module above it.  Only a rule whose
`name=` is exactly that parameter's qualified name (no wildcard, no regex) may write it.
"""
from __future__ import annotations

import fnmatch

import torch.nn as nn

from ..errors import bad_argument

_MARK = "_initlab_keep"


def keep(module: nn.Module) -> nn.Module:
    """Mark `module` (and everything inside it) as pretrained: policies leave it as it is.

    Example:
        >>> initlab.keep(model.backbone); initlab.init_(model, "auto")   # only the new head changes
    """
    if not isinstance(module, nn.Module):
        raise bad_argument("keep", "module", type(module).__name__, "a torch.nn.Module",
                           "pass the submodule itself, e.g. initlab.keep(model.backbone)")
    setattr(module, _MARK, True)
    return module


def freeze(module: nn.Module) -> nn.Module:
    """requires_grad=False on every parameter of `module`, and mark it kept (see `keep`).

    Example:
        >>> initlab.freeze(model.backbone)
    """
    keep(module)
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def is_marked(module: nn.Module) -> bool:
    return bool(getattr(module, _MARK, False))


def check_patterns(patterns) -> tuple[str, ...]:
    """Normalize `keep=` (None, a glob, or a list of globs)."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = [patterns]
    try:
        out = tuple(patterns)
    except TypeError:
        out = None
    if out is None or not all(isinstance(p, str) and p for p in out):
        raise bad_argument("plan", "keep", patterns, "a glob or a list of globs on parameter/module names",
                           "e.g. keep=['backbone.*'] or keep='encoder'")
    return out


def kept_reason(qualified: str, param, owners: list[tuple[str, nn.Module]], patterns) -> str | None:
    """Why the parameter `qualified` is kept, or None.  `owners`: (name, module) from the root down."""
    if not param.requires_grad:
        return "requires_grad=False (frozen)"
    for name, mod in owners:
        if is_marked(mod):
            return f"module {name or '<root>'!r} is marked with initlab.keep"
    names = [qualified] + [n for n, _ in owners if n]
    for pat in patterns:
        for n in names:
            if fnmatch.fnmatchcase(n, pat):
                return f"keep= pattern {pat!r} matches {n!r}"
    return None


def check_patterns_match(model: nn.Module, patterns) -> None:
    """Every keep= glob must match a parameter or module name: a typo would silently let the policy
    overwrite the very weights it was meant to protect."""
    if not patterns:
        return
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_modules() if n]
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            from ..errors import did_you_mean
            hint = did_you_mean(pat, names).strip()
            raise bad_argument("plan", "keep", pat, "a glob matching a parameter or module name of this model",
                               (hint + " " if hint else "") + "list the names with model.named_parameters(); "
                               "globs use * and ? (e.g. 'backbone.*')")
