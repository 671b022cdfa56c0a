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


def memory_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):    # pragma: no cover - not POSIX
        return 0


MAX_DEPTH = 10_000       # layers of a deep-mlp / resmlp spec: deeper is a typo (and a Python object per layer)


def model_fits(spec, where: str, flag: str = "MODEL") -> int | None:
    """Refuse a zoo spec whose parameters alone would not fit in half this machine's memory, before building it.
    Returns the parameters' bytes (None when not measured).

    `plan deep-mlp:100000:100000:relu` asked for 40 GB and failed in the allocator (or, with overcommit, in
    the first weight draw, killed by the OOM killer).  The zoo model is built on the meta device first (no
    memory, no draws) to count its bytes; a user's file.py:factory is not run twice, so it is not checked.
    """
    import torch

    from ..errors import InitError, bad_argument
    from ..models import build_model
    if not isinstance(spec, str) or ".py:" in spec or (":" in spec and "." in spec.partition(":")[0]):
        return None
    kind, _, rest = spec.partition(":")
    if kind == "hf":             # models_hf.py builds it on meta first and keeps it there above SMALL parameters
        return None
    depth = rest.partition(":")[0]
    if kind in ("deep-mlp", "resmlp") and depth.strip().isdigit() and int(depth) > MAX_DEPTH:
        raise bad_argument(where, flag, spec, f"a depth from 1 to {MAX_DEPTH}", "e.g. deep-mlp:50:256:tanh")
    try:
        with torch.device("meta"):
            model = build_model(spec)
    except InitError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta is checked by the real build
        return None
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    limit = memory_bytes() // 2
    if limit and size > limit:
        raise bad_argument(where, flag, spec, f"a model whose parameters fit in half this machine's memory "
                           f"({limit / 2 ** 30:.1f} GiB; this one needs {size / 2 ** 30:.1f} GiB)",
                           "use fewer or narrower layers, e.g. deep-mlp:50:256:tanh")
    return size


def batch_fits(model, batch: int, where: str, flag: str = "--batch") -> None:
    """Refuse a batch whose activations would not fit in half this machine's memory.

    `diagnose seed004 --batch 16777216` asked the allocator for 52 GB of inputs alone.  The estimate is a
    floor: float32 inputs plus, per weight layer, its output units and their gradients (conv outputs are
    counted per channel, not per position), so only batches that cannot work are refused.
    """
    import math

    from ..errors import bad_argument
    shape = getattr(model, "initlab_input_shape", None)
    first = next((m for m in model.modules() if hasattr(m, "in_features")), None)
    per_sample = math.prod(shape) if shape else getattr(first, "in_features", 1)
    # each weight layer's output, the activation after it, and both their gradients
    per_sample += 4 * sum(p.shape[0] for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2)
    size = 4 * batch * per_sample
    limit = memory_bytes() // 2
    if limit and size > limit:
        top = max(1, limit // (4 * per_sample))
        raise bad_argument(where, flag, batch, f"a batch whose activations fit in half this machine's memory "
                           f"(at most {top} for this model)", f"e.g. {flag} 256")


def models_fit(model_bytes: int | None, n_models: int, where: str, flag: str, example) -> None:
    """Refuse training `n_models` copies at once when their parameters, gradients and optimizer state
    (4x the parameters: Adam keeps two moments) would not fit in half this machine's memory."""
    from ..errors import bad_argument
    limit = memory_bytes() // 2
    if model_bytes and limit and 4 * model_bytes * n_models > limit:
        top = max(1, limit // (4 * model_bytes))
        raise bad_argument(where, flag, example, f"at most {top} models of this size trained at once (their "
                           f"weights, gradients and optimizer state fit in half this machine's memory)",
                           f"pass --chunk {top} (models per batch; each chunk is saved when it finishes) or "
                           "fewer --seeds / --policies")


def writable_folder(folder: str, where: str, flag: str, example: str) -> None:
    """An output folder: refuse an existing file, or a folder that cannot be made or written, before the work
    (double-descent --plots and reproduce --out failed with FileExistsError / FileNotFoundError after it)."""
    from pathlib import Path

    from ..errors import bad_argument
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise bad_argument(where, flag, folder, "a folder (new or existing), not a file", f"e.g. {flag} {example}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise bad_argument(where, flag, folder, "a folder that can be created",
                           f"{e.strerror or e}; pass another {flag} DIR") from None
    if not os.access(path, os.W_OK):
        raise bad_argument(where, flag, folder, "a writable folder", f"pass another {flag} DIR")


def executor_flags(p, what: str, *, retries: bool = True) -> None:
    """--executor / --address (/ --max-retries) of the commands that can sweep on Ray; `what` says what one
    Ray task trains there."""
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help=f"local (default): this process and its worker processes; ray: {what} (needs the ray "
                        "extra; see docs/ray.md)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster to join with --executor ray: auto (started with `ray start --head` on this "
                        "machine), HOST:6379 or ray://HOST:10001 (default: start a local Ray)")
    if retries:
        p.add_argument("--max-retries", type=integer("--max-retries", 0, 100, "a count", 2), default=2, metavar="N",
                       help="with --executor ray: run a failed task (it raised, or its worker died) again up to N "
                            "times before its runs are reported failed (default %(default)s)")
