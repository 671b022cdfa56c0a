"""argparse `type=` checks shared by the commands: a bad value is one line and exit 2, naming the flag.

Without them extreme values failed deep inside: `--seeds 1000000000` as a MemoryError with an empty
message, `--lr 1e308` as a float32 overflow, `--seed 999...9` as an overflow in torch's generator,
`--threads 100000` as libgomp running out of memory (issue 13, hostile use 6).  The bounds are where
a value stops meaning anything on one machine, not tuning advice; each message says the range.
"""
from __future__ import annotations

import argparse
import math
import os

FLOAT32_MAX = 3.4028234663852886e38      # torch's default dtype: a larger rate or decay is inf there
SEED_MAX = 2 ** 63 - 1                   # every torch generator takes a seed up to the int64 range


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):    # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _fail(value, expected: str, fix: str):
    return argparse.ArgumentTypeError(f"{value!r} is not allowed; expected {expected}. Fix: {fix}")


def integer(lo: int, hi: int, what: str, example: str):
    """An int in [lo, hi]."""
    def check(text: str) -> int:
        n = int(text)                     # not a number: argparse's own "invalid int value: 'x'"
        if not lo <= n <= hi:
            raise _fail(text, f"{what} from {lo} to {hi}", f"e.g. {example}")
        return n
    check.__name__ = "int"                # the name argparse puts in "invalid int value"
    return check


def number(what: str, example: str, *, lo: float = -FLOAT32_MAX, hi: float = FLOAT32_MAX, lo_open: bool = False,
           hi_open: bool = False):
    """A finite float in [lo, hi] (either end open on request)."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def check(text: str) -> float:
        x = float(text)                   # not a number: argparse's own "invalid float value: 'x'"
        ok = math.isfinite(x) and (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)
        if not ok:
            raise _fail(text, f"{what}: a finite number in {span}", f"e.g. {example}")
        return x
    check.__name__ = "float"
    return check


def seed(text: str) -> int:
    """A generator seed: an int in [0, 2^63 - 1]."""
    return integer(0, SEED_MAX, "a seed: an integer", "--seed 0")(text)


def parallel(flag: str, *, auto: bool = True):
    """'auto' (when allowed) or a count of threads/processes from 1 to 4x this machine's cores."""
    top = 4 * cores()

    def check(text: str):
        if auto and text == "auto":
            return text
        try:
            n = int(text)
        except ValueError:
            n = 0
        if not 1 <= n <= top:
            raise argparse.ArgumentTypeError(
                f"{flag}={text!r} is not allowed; expected {'auto or ' if auto else ''}a count from 1 to {top} "
                f"(4x the {cores()} core(s) here). Fix: e.g. {flag} {min(2, top)}")
        return n
    return check


SEEDS = integer(1, 10_000, "a number of seeds", "--seeds 5")
EPOCHS = integer(1, 10_000_000, "a number of epochs", "--epochs 20")
BATCH = integer(1, 2 ** 24, "a batch size", "--batch-size 100")
SAMPLES = integer(1, 2 ** 31 - 1, "a count", "--subsample 1000")
RATE = number("a learning rate > 0 that float32 can hold", "--lr 0.05", lo=0.0, lo_open=True)
NON_NEGATIVE = number("a value >= 0 that float32 can hold", "0.9", lo=0.0)
FRACTION = number("a fraction", "0.2", lo=0.0, hi=1.0, hi_open=True)
FINITE = number("a finite value", "0.9")
