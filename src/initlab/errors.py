"""One error family for every bad input, with messages in the einops style.

A message says where the problem is, which argument, the value it got, what was
expected and how to fix it.  `InitError` subclasses `ValueError`, as torch.nn.init's
own checks raise ValueError.  Where torch raises another type for the same input
(RuntimeError from `uniform_(w, 1, 0)`, ZeroDivisionError, OverflowError, ...),
initlab raises an InitError subclass that is *also* that type (`InitRuntimeError`
is both an InitError and a RuntimeError), so code written against torch that
catches torch's type keeps working, and code that catches InitError sees every case.
"""
from __future__ import annotations

import contextlib
import difflib
import math
from typing import Callable, Iterable


class InitError(ValueError):
    """Raised for any bad input to initlab (a ValueError, like torch.nn.init's errors)."""


class InitRuntimeError(InitError, RuntimeError):
    """Where torch raises RuntimeError (e.g. uniform_ with a > b, normal_ with std < 0)."""


class InitNotImplementedError(InitError, NotImplementedError):
    """Where torch raises NotImplementedError (e.g. a random fill of an integer tensor)."""


class InitTypeError(InitError, TypeError):
    """Where torch raises TypeError (an argument of the wrong type)."""


class InitIndexError(InitError, IndexError):
    """Where torch raises IndexError (e.g. dirac_ on a kernel with a zero-size spatial dim)."""


class InitZeroDivisionError(InitError, ZeroDivisionError):
    """Where torch raises ZeroDivisionError (e.g. trunc_normal_ with std=0, dirac_ with groups=0)."""


class InitOverflowError(InitError, OverflowError):
    """Where torch raises OverflowError (e.g. kaiming_normal_ with a=1e308: a**2 overflows)."""


class InitAttributeError(InitError, AttributeError):
    """Where torch raises AttributeError (e.g. a list instead of a tensor, mode=None)."""


# torch's type -> initlab's type that is both.  Only these exact types are translated:
# subclasses torch defines (OutOfMemoryError, LinAlgError, ...) pass through as they are.
_AS_INIT = {
    ValueError: InitError, RuntimeError: InitRuntimeError, NotImplementedError: InitNotImplementedError,
    TypeError: InitTypeError, IndexError: InitIndexError, ZeroDivisionError: InitZeroDivisionError,
    OverflowError: InitOverflowError, AttributeError: InitAttributeError,
}


def bad_argument(where: str, arg: str, value, expected: str, fix: str | None = None, cls: type = InitError) -> InitError:
    """Build an InitError (or subclass `cls`) naming the argument, the value, the allowed values and the fix."""
    msg = f"{where}: {arg}={value!r} is not allowed; expected {expected}."
    if fix:
        msg += f" Fix: {fix}"
    return cls(msg)


@contextlib.contextmanager
def like_torch(where: str, explain: Callable[[], None] | None = None):
    """Run torch-equivalent code; what it raises comes out as the InitError subclass of the same type.

    `explain()` (initlab's strict checks for the same call) supplies the message when it
    finds the bad argument; otherwise the message quotes torch's.  Warnings are not
    touched (a warning turned into an error by a filter stays a warning class).
    """
    try:
        yield
    except InitError:
        raise
    except tuple(_AS_INIT) as exc:
        cls = _AS_INIT.get(type(exc))
        if cls is None:
            raise
        raise translate(where, exc, explain, cls) from exc


def translate(where: str, exc: BaseException, explain, cls) -> InitError:
    msg = None
    if explain is not None:
        try:
            explain()
        except InitError as why:
            msg = str(why)
        except Exception:   # noqa: BLE001 - an explanation that fails must not hide torch's error
            msg = None
    if msg is None:
        msg = (f"{where}: torch.nn.init.{where} refuses these arguments ({type(exc).__name__}: {exc}); "
               f"expected arguments it accepts. Fix: see help(initlab.{where}), or pass strict=True for "
               "initlab's checks.")
    return cls(msg)


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
