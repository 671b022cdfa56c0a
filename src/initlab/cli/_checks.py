"""argparse `type=` checks shared by the commands: a bad value is one line and exit 2, naming the flag.

Without them extreme values failed deep inside: `--seeds 1000000000` as a MemoryError with an empty
message, `--lr 1e308` as a float32 overflow, `--seed 999...9` as an overflow in torch's generator,
`--threads 100000` as libgomp running out of memory (issue 13, hostile use 6).  The bounds are where
a value stops meaning anything on one machine, not tuning advice; each message gives the range, in
errors.py's form: "--flag=value is not allowed; expected ... Fix: ...".
"""
from __future__ import annotations

import argparse
import math
import os

FLOAT32_MAX = 3.4028234663852886e38      # torch's default dtype: a larger rate or decay is inf there
SEED_MAX = 2 ** 63 - 1                   # int64: every torch generator takes it, with room for derived seeds


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):    # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _fail(flag: str, value, expected: str, example: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{flag}={value!r} is not allowed; expected {expected}. Fix: e.g. {flag} {example}")


def integer(flag: str, lo: int, hi: int, what: str, example):
    """An int in [lo, hi]; text that is no integer keeps argparse's own "invalid int value: 'x'"."""
    def check(text: str) -> int:
        n = int(text)
        if not lo <= n <= hi:
            raise _fail(flag, n, f"{what} from {lo} to {hi}", example)
        return n
    check.__name__ = "int"                # the name argparse puts in "invalid int value"
    return check


def number(flag: str, what: str, example, *, lo: float = -FLOAT32_MAX, hi: float = FLOAT32_MAX,
           lo_open: bool = False, hi_open: bool = False):
    """A finite float in [lo, hi] (either end open on request)."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def check(text: str) -> float:
        x = float(text)                   # no number: argparse's own "invalid float value: 'x'"
        ok = math.isfinite(x) and (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)
        if not ok:
            raise _fail(flag, x, f"{what}: a finite number in {span}", example)
        return x
    check.__name__ = "float"
    return check


def seed(flag: str = "--seed"):
    """A generator seed: an int in [0, 2^63 - 1]."""
    return integer(flag, 0, SEED_MAX, "a seed: an integer", 0)


def parallel(flag: str, *, auto: bool = True):
    """'auto' (when allowed) or a count of threads/processes from 1 to 4x this machine's cores."""
    top = 4 * cores()

    def check(text: str):
        if auto and text == "auto":
            return text
        try:
            n = int(text)
        except ValueError:
            raise _fail(flag, text, f"{'auto or ' if auto else ''}a count", min(2, top)) from None
        if not 1 <= n <= top:
            raise _fail(flag, n, f"{'auto or ' if auto else ''}a count from 1 to {top} (4x the {cores()} core(s) "
                        "here)", min(2, top))
        return n
    return check


def seeds(flag: str = "--seeds"):
    return integer(flag, 1, 10_000, "a number of seeds", 5)


def epochs(flag: str = "--epochs"):
    return integer(flag, 1, 10_000_000, "a number of epochs", 20)


def batch(flag: str):
    return integer(flag, 1, 2 ** 24, "a batch size", 100)


def count(flag: str, example):
    return integer(flag, 1, 2 ** 31 - 1, "a count", example)


def rate(flag: str = "--lr"):
    return number(flag, "a learning rate > 0 that float32 can hold", 0.05, lo=0.0, lo_open=True)


def non_negative(flag: str):
    return number(flag, "a value >= 0 that float32 can hold", 0, lo=0.0)


def fraction(flag: str):
    return number(flag, "a fraction", 0.2, lo=0.0, hi=1.0, hi_open=True)


def finite(flag: str):
    return number(flag, "a finite value", 0.9)
