"""One error type for every bad input, with messages in the einops style.

A message says where the problem is, which argument, the value it got, what was
expected and how to fix it.  `InitError` subclasses `ValueError` so code written
against torch.nn.init (which raises ValueError) keeps working unchanged.
"""
from __future__ import annotations

import difflib
import math
from typing import Iterable


class InitError(ValueError):
    """Raised for any bad input to initlab (a ValueError, like torch.nn.init's errors)."""


def bad_argument(where: str, arg: str, value, expected: str, fix: str | None = None) -> InitError:
    """Build an InitError naming the argument, the value, the allowed values and the fix."""
    msg = f"{where}: {arg}={value!r} is not allowed; expected {expected}."
    if fix:
        msg += f" Fix: {fix}"
    return InitError(msg)


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """' Did you mean 'x'?' for the closest choices, or '' when nothing is close."""
    close = difflib.get_close_matches(str(value), list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_choice(where: str, arg: str, value, choices: Iterable[str], fix: str | None = None) -> InitError:
    """InitError for a name that is not one of `choices`, with a did-you-mean hint."""
    choices = list(choices)
    hint = did_you_mean(value, choices)
    allowed = "one of " + ", ".join(repr(c) for c in choices)
    if not fix and not hint and choices:
        fix = f"pass one of the allowed values, e.g. {arg}={choices[0]!r}."
    return bad_argument(where, arg, value, allowed, (hint.strip() + " " + (fix or "")).strip() or None)


def check_finite(where: str, **values: float) -> None:
    """Reject NaN/inf (and non-numbers) in scalar arguments."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad_argument(where, name, v, "a finite real number", f"pass a float, e.g. {name}=1.0")
        if not math.isfinite(v):
            raise bad_argument(where, name, v, "a finite real number", f"pass a finite value for {name}")
