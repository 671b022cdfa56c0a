"""Which stack trains a batch of models, and `train_runs`: the path choice with its fallback.

    outcome = train_runs(models, seeds, data, TrainConfig(epochs=2, lr=0.05, batch_size=100))
    outcome.results[k]   # RunResult(status, history, final, seconds) of models[k]
    outcome.path         # "vectorized" | "sequential";  outcome.engine: "stacked-mlp" | "vmap" | "sequential"

Every path trains *in place* through `fit` (the final weights end up in the given modules) and follows
the rules of fit.py and seeds.py, so the stacks agree to float rounding (tests/experiments/
test_engine_equivalence.py).  Stacks: "stacked-mlp" (MLPStack) for plain nn.Sequential MLPs, "vmap"
(VmapStack) for other models, "sequential" (AutogradStack, one model after another) for models with
BatchNorm (train-mode running statistics) and whenever a vectorized stack raises.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import bad_argument, unknown_choice
from .autograd_stack import AutogradStack
from .mlp_plan import parse_mlp
from .mlp_stack import MLPStack
from .spec import TrainConfig, TrainData
from .vmap_stack import VmapStack

PATHS = ("auto", "vectorized", "sequential")
STACKS = {"stacked-mlp": MLPStack, "vmap": VmapStack, "sequential": AutogradStack}
_PROBE_FLOPS = 1e8             # pick_threads: FLOPs per timed matmul (about a millisecond)


@dataclass
class TrainOutcome:
    results: list
    path: str
    reason: str
    engine: str = ""


def resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise bad_argument("compare", "device", str(device), "'auto', 'cpu' or an available CUDA device",
                           "no CUDA device is visible here; use --device cpu (or auto)")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise unknown_choice("compare", "device", device, ["auto", "cpu", "cuda"]) from None


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def vectorized_support(model: nn.Module) -> tuple[str | None, str]:
    """(engine, explanation): engine "stacked-mlp" | "vmap", or None with the reason it must go sequentially."""
    if _has_batchnorm(model):
        return None, ("the model has BatchNorm: in train mode it updates running statistics per model, "
                      "which the vectorized path does not batch")
    rnn = next((type(m).__name__ for m in model.modules() if isinstance(m, nn.RNNBase)), None)
    if rnn is not None:     # known up front: no failed vmap attempt, and the sequential path shards (workers)
        return None, (f"the model has an {rnn}: torch.func has no vmap batching rule for its fused kernel "
                      "(aten::lstm / gru / rnn), so its models train one after another")
    plan, why = parse_mlp(model)
    if plan is not None:
        return "stacked-mlp", "stacked-MLP kernel (batched matmuls, hand-written backward)"
    return "vmap", f"torch.func vmap over stacked weights (stacked-MLP kernel not applicable: {why})"


# pick_threads: a stack whose training step does at least this many multiply-adds (forward + backward, all
# models) runs on every usable core, a smaller one on one thread.  OpenMP forks and joins at every kernel
# (~5-10 us each, ~25 kernels a step): below ~4M multiply-adds (~0.3 ms of one core) that overhead eats
# what a second thread gains.  digits 64-128-128-10 x 35 at batch 16: 43M -> all cores; a 4-8-2 toy: 1.
_THREADS_MIN_STEP_MACS = 1 << 22


def pick_threads(M: int, shapes, batch: int, device, dtype=torch.float32, candidates=None, *,
                 timed: bool = False) -> tuple[int, str]:
    """Thread count for training M stacked MLPs with these Linear shapes [(in, out), ...] on the CPU.

    Deterministic by default (issue 13, item 8): a function of the usable cores and the problem size only.
    The thread count decides how torch splits its reductions (a bias gradient, a loss sum), so it changes
    results in the last float digits; a choice timed on a shared machine varied between two runs of one
    command, and so did their stored metrics.  Fixing the choice (rather than recording it in the config,
    which would change every config hash, or forcing thread-count-independent reductions, which costs
    speed in every step) keeps one command's results bit-identical from process to process on one machine.

    timed=True keeps the old probe, only when a caller asks for it: a forward/backward-sized set of
    batched matmuls timed at 1 thread and at every core, the faster kept (results then depend on the
    load of the moment)."""
    if torch.device(device).type != "cpu":
        return torch.get_num_threads(), "GPU: threads not tuned"
    from .shards import usable_cores
    cores = usable_cores()
    cands = sorted(set(candidates or [1, max(1, cores)]))
    if len(cands) == 1:
        return cands[0], f"{cands[0]} thread(s): one core"
    if not timed:
        macs = 3 * M * batch * sum(i * o for i, o in shapes)
        n = cands[-1] if macs >= _THREADS_MIN_STEP_MACS else cands[0]
        return n, (f"{n} thread(s) (auto: {macs / 1e6:.1f}M multiply-adds a step "
                   f"{'>=' if n == cands[-1] else '<'} {_THREADS_MIN_STEP_MACS / 1e6:.1f}M; a fixed rule, "
                   "so results do not depend on the load)")
    return _timed_threads(M, shapes, batch, dtype, cands)


def _timed_threads(M, shapes, batch, dtype, cands) -> tuple[int, str]:
    before = torch.get_num_threads()
    i, o = max(shapes, key=lambda s: s[0] * s[1])
    # the probe is capped at ~1e8 FLOPs per matmul (about a millisecond)
    m = max(1, min(M, 8, int(_PROBE_FLOPS // (2 * o * i * batch))))
    cols = max(1, min(batch, int(_PROBE_FLOPS // (2 * o * i * m))))
    Wt = torch.randn(m, o, i, dtype=dtype)
    A = torch.randn(m, i, cols, dtype=dtype)
    times = {}
    try:
        for rep in range(2):
            for n in cands:
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                for _ in range(2):
                    z = torch.bmm(Wt, A)
                    torch.bmm(z, A.transpose(1, 2))
                times[n] = min(times.get(n, float("inf")), time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    best = min(cands, key=lambda n: times[n])
    note = ", ".join(f"{n}: {1e3 * times[n]:.1f} ms" for n in cands)
    return best, f"{best} thread(s) (timed a layer at {note})"


def sharding_applies(device) -> bool:
    """Whether worker processes can train slices of a sweep here: CPU, and fork available."""
    from .shards import fork_available
    return torch.device(device).type == "cpu" and fork_available()


def train_stack(engine: str, models, seeds, data: TrainData, cfg: TrainConfig, progress=None, *, loss_kind=None,
                workers: int = 1) -> list:
    """fit() the models on the stack `engine` ("stacked-mlp" | "vmap" | "sequential"); with workers > 1 (on
    the CPU, where fork exists) that many processes of one thread each train disjoint slices (shards.py)."""
    kind = loss_kind or cfg.loss
    models, seeds = list(models), [int(s) for s in seeds]
    from .shards import fit_sharded, run_job            # shards imports this module: import at call time
    if workers > 1 and len(models) > 1 and sharding_applies(cfg.device):
        return fit_sharded(engine, models, seeds, data, cfg, progress, kind, workers)
    return run_job((engine, models, seeds, data, cfg, kind), progress)


def train_sequential(models, seeds, data: TrainData, cfg: TrainConfig, progress=None, *, loss_kind=None,
                     workers: int = 1) -> list:
    """Train each model with autograd (AutogradStack): any module, BatchNorm included; workers as train_stack."""
    return train_stack("sequential", models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers)


def train_vectorized(models, seeds, data: TrainData, cfg: TrainConfig, progress=None, *, loss_kind=None,
                     engine=None, workers: int = 1) -> tuple[list, str]:
    """Train all models at once; returns (results, engine).  Raises when the models cannot be vectorized."""
    eng, why = vectorized_support(models[0])
    if eng is None:
        raise bad_argument("train_vectorized", "models", type(models[0]).__name__,
                           "a model without BatchNorm", why + "; use path='sequential' (or 'auto')")
    eng = engine or eng
    return train_stack(eng, models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers), eng


def _snapshot(model: nn.Module) -> dict:
    """A copy of the model's state_dict to restore if the vectorized path fails: tensors cloned, anything else
    deep-copied (as copy.deepcopy(state_dict) would, ~2x faster: 35 small MLPs 13 ms -> 6 ms)."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
            for k, v in model.state_dict().items()}


def train_runs(models, seeds, data: TrainData, cfg: TrainConfig, *, path: str = "auto", progress=None,
               loss_kind=None, workers: int = 1) -> TrainOutcome:
    """Train `models` (already initialized) in place; seeds[k] drives model k's batch order and dropout.

    workers: processes on the CPU (see train_stack), on every stack; the fallback after a failed vectorized
    attempt runs in this process."""
    cfg.check()
    if path not in PATHS:
        raise unknown_choice("train_runs", "path", path, PATHS)
    models, seeds = list(models), [int(s) for s in seeds]
    if len(models) != len(seeds):
        raise bad_argument("train_runs", "seeds", seeds, f"one seed per model ({len(models)})")
    eng, why = vectorized_support(models[0])
    if path == "sequential":
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers),
                            "sequential", "sequential path requested", "sequential")
    if eng is None:
        if path == "vectorized":
            raise bad_argument("train_runs", "path", path, "'auto' or 'sequential' for this model",
                               why + "; use path='auto'")
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers),
                            "sequential", why, "sequential")
    backup = [_snapshot(m) for m in models]
    done_before = progress.done if progress is not None else 0
    try:
        results, eng = train_vectorized(models, seeds, data, cfg, progress, loss_kind=loss_kind, workers=workers)
        return TrainOutcome(results, "vectorized", why, eng)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the vectorized path falls back
        if path == "vectorized":
            raise
        for m, sd in zip(models, backup):
            m.load_state_dict(sd)
        if progress is not None:
            progress.done = done_before
        reason = f"the vectorized path failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); ran sequentially"
        # in this process: the failure may have been a worker's (a fork, a hung child), so no workers here
        return TrainOutcome(train_sequential(models, seeds, data, cfg, progress, loss_kind=loss_kind),
                            "sequential", reason, "sequential")
