"""compare's argument handling: the model factory, the data set and its identity, policies, workers,
model/data fit checks and chunks.  Every function raises InitError naming the argument."""
from __future__ import annotations

import copy
import hashlib
import math
import weakref

import torch
from torch import nn

from ..errors import bad_argument
from .engine import TrainData

WHERE = "initlab.compare"


def _model_factory(model):
    """(factory returning a fresh nn.Module, name for the config)."""
    from ..models import build_model
    if isinstance(model, str):
        build_model(model)                       # validates the spec now (InitError on a bad one)
        return (lambda: build_model(model)), model
    if isinstance(model, nn.Module):
        proto = copy.deepcopy(model)
        return (lambda: copy.deepcopy(proto)), f"{type(model).__module__}.{type(model).__qualname__}(instance)"
    if callable(model):
        name = f"{getattr(model, '__module__', '?')}.{getattr(model, '__qualname__', repr(model))}"
        seen = weakref.WeakSet()                 # every run needs its own module (runs are kept until trained)

        def factory():
            m = model()
            if not isinstance(m, nn.Module):
                raise bad_argument(WHERE, "model", name, "a factory returning a torch.nn.Module",
                                   "make the factory return the model")
            if m in seen:
                raise bad_argument(WHERE, "model", name, "a factory returning a new module at each call",
                                   "build the model inside the factory (e.g. lambda: MyNet()), or pass the "
                                   "module itself (compare deep-copies it per run)")
            seen.add(m)
            return m
        return factory, name
    raise bad_argument(WHERE, "model", model, "a zoo spec string (e.g. 'seed004', 'mlp:64-128-10'), "
                       "an nn.Module or a factory returning one", "see `initlab.models`")


def _tensor_digest(t: torch.Tensor) -> bytes:
    """SHA-256 of a tensor's dtype, shape and bytes.  Not cached: a tensor's bytes can change without torch
    seeing it (a numpy array or a memory map behind it), and a stale digest would resume the wrong runs."""
    c = t.detach().cpu().contiguous()
    if c.dtype == torch.bfloat16:
        c = c.float()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(c.reshape(-1).view(torch.uint8).numpy() if c.numel() else b"")   # buffer protocol: no copy
    return h.digest()


def _fingerprint(data) -> str:
    """SHA-256 of every split's tensors (dtype, shape and bytes), first 128 bits."""
    h = hashlib.sha256()
    for t in (data.x_train, data.y_train, data.x_val, data.y_val):
        if t is not None:
            h.update(_tensor_digest(t))
    return h.hexdigest()[:32]


def _model_ident(probe: nn.Module, values: bool) -> str:
    """Hash of the model's structure (its repr, parameter and buffer names, shapes and dtypes), and with
    `values` of their contents too: the config of a module instance or a factory must change when its
    architecture does (a class name alone would resume another model's runs), and an instance's weights
    are where kept (pretrained) parameters come from."""
    h = hashlib.sha256(repr(probe).encode())
    for name, t in list(probe.named_parameters()) + list(probe.named_buffers()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        if values:
            h.update(_tensor_digest(t))
    return h.hexdigest()[:16]


def _dataset(data, data_options):
    from ..data import Dataset, load
    if isinstance(data, Dataset):
        # Identify a Dataset by its content, not its info (which holds volatile fields such as
        # load_seconds): the same data must give the same config hash so a rerun resumes.
        ident = {"name": data.name, "n_train": data.n_train, "n_val": data.n_val, "fingerprint": _fingerprint(data)}
        return data, data.name, ident
    if not isinstance(data, str):
        raise bad_argument(WHERE, "data", data, "a data set name or an initlab.data.Dataset",
                           "e.g. data='digits'; see initlab.data.list_datasets()")
    opts = dict(data_options or {})
    ds = load(data, **opts)
    return ds, ds.name, opts


# Above this many multiply-adds per model per step in its largest layer (in x out x batch), one process with
# intra-op threads is as fast as worker processes (its matmuls are big enough to split well: 784-1024-1024-10
# at batch 128, 134M, ran at 80 % of peak with 2 threads and 78 % with 2 workers), so auto keeps one process.
# Below it (digits 64-128-128-10 at batch 16: 262K) workers win: 54 % against 50 % (benchmarks/compare_speed.py).
_SHARD_MAX_STEP_MACS = 1 << 24


def _workers(workers, threads, probe, path, dev, n_models, batch_size) -> tuple[int, str]:
    """(worker processes, note for the path reason; "" = the thread note decides) for compare's arguments."""
    from .engine.mlp_plan import parse_mlp
    from .engine import sharding_applies, vectorized_support
    stacked = path != "sequential" and vectorized_support(probe)[0] == "stacked-mlp" and sharding_applies(dev)
    if isinstance(workers, int):
        if workers == 1:
            return 1, ""
        if not stacked:
            return 1, (f"workers={workers} ignored: process shards need the stacked-MLP path on the CPU and fork; "
                       "one process")
        n = min(workers, n_models)
        return n, f"{n} worker process(es) x 1 thread (set)"
    if isinstance(threads, int) or not stacked or n_models < 2:
        return 1, ""
    plan, _ = parse_mlp(probe)
    if max(i * o for i, o, _ in plan.shapes) * batch_size > _SHARD_MAX_STEP_MACS:
        return 1, ""
    from .engine.shards import usable_cores
    n = min(usable_cores(), n_models)
    if n < 2:
        return 1, ""
    return n, f"{n} worker processes x 1 thread (auto: one per core; they scale better than threads)"


def _policies(policies) -> list[str]:
    if isinstance(policies, str):
        names = [p.strip() for p in policies.split(",")]
        if names and not names[-1]:
            names.pop()                          # a trailing comma is harmless
        if "" in names:
            raise bad_argument(WHERE, "policies", policies, "comma-separated policy names, none empty",
                               "remove the doubled comma")
        policies = names
    policies = list(policies or [])
    if not policies or not all(isinstance(p, str) and p for p in policies):
        raise bad_argument(WHERE, "policies", policies, "a non-empty list of policy names",
                           "e.g. policies=['torch_default', 'auto'] or --policies zeros,auto")
    from ..policy.api import canonical_name     # 'torch-default' and 'torch_default' are one policy
    canon = [canonical_name(p) for p in policies]
    if len(set(canon)) != len(canon):
        raise bad_argument(WHERE, "policies", policies, "each policy once (spellings that name the same policy "
                           "count as one, e.g. torch-default and torch_default)", "remove the duplicates")
    return policies


def _prepare(ds, probe: nn.Module, loss):
    """TrainData shaped for the model, and the loss name; InitError when model and data do not fit."""
    x_tr, y_tr = ds.x_train, ds.y_train
    x_va, y_va, split = ds.x_val, ds.y_val, "val"
    if x_va is None or len(x_va) == 0:
        if ds.x_test is not None and len(ds.x_test):
            x_va, y_va, split = ds.x_test, ds.y_test, "test"
        else:
            x_va, y_va, split = x_tr, y_tr, "train"
    shape = getattr(probe, "initlab_input_shape", None)
    if shape is not None and tuple(x_tr.shape[1:]) != tuple(shape) and \
            math.prod(x_tr.shape[1:]) == math.prod(shape):
        x_tr, x_va = x_tr.reshape(len(x_tr), *shape), x_va.reshape(len(x_va), *shape)
    try:
        with torch.no_grad():
            probe.eval()
            out = probe(x_tr[:2].float())
    except Exception as e:  # noqa: BLE001
        first = next((m for m in probe.modules() if isinstance(m, nn.Linear)), None)
        pick = ""
        if first is not None and ds.name == "california-housing" and first.in_features < ds.n_features:
            pick = (f", or keep {first.in_features} of its columns: data_options={{'features': [...]}} (CLI "
                    "--features AveRooms,AveOccup, the seed-003 choice for housing-small/-large)")
        raise bad_argument(WHERE, "model", type(probe).__name__,
                           f"a model that accepts the data's inputs of shape {tuple(x_tr.shape[1:])}",
                           f"use a model whose input is {tuple(ds.input_shape)}, e.g. "
                           f"mlp:{ds.n_features}-128-{ds.n_outputs}{pick} ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:120]})") from None
    n_out = int(out.shape[-1])
    if loss is None:
        if ds.task == "regression":
            loss = "mse"
        else:
            loss = "bce" if n_out == 1 and (ds.n_classes or 2) == 2 else "cross_entropy"
    if ds.task == "classification" and loss == "cross_entropy" and n_out < int(ds.n_classes or 0):
        raise bad_argument(WHERE, "model", type(probe).__name__,
                           f"a model with {ds.n_classes} outputs for {ds.name} ({n_out} found)",
                           f"end the model with {ds.n_classes} units, e.g. mlp:{ds.n_features}-128-{ds.n_classes}")
    if ds.task == "regression" and loss != "mse":
        raise bad_argument(WHERE, "loss", loss, "'mse' for a regression data set", "leave loss=None")
    if ds.task == "classification":
        binary = n_out == 1 and (ds.n_classes or 2) == 2
        allowed = ["bce"] if binary else ["cross_entropy"]
        if loss not in allowed:
            raise bad_argument(WHERE, "loss", loss, " or ".join(repr(a) for a in allowed) + f" for {ds.name} "
                               f"(classification, {ds.n_classes} classes, a model with {n_out} output(s))",
                               "leave loss=None: cross_entropy on class logits, bce on one logit for two classes")
    data = TrainData(ds.task, x_tr, y_tr, x_va, y_va, ds.n_classes, split)
    return data, loss


# Default chunk: as many models as train in about CHUNK_TARGET_S, so that a kill loses at most about a minute
# of work (each chunk is saved when it finishes), while the chunk stays one vectorized batch.  The work is
# estimated, not timed (a timing probe would make the chunking, and the stored digits, vary between
# processes): 6 flops per multiply-add per training sample (forward, backward for inputs and weights) and
# 2 per evaluated sample, every epoch.  CPU_FLOPS_PER_CORE is conservative on purpose: 8 seed004 models on
# 12,000 Fashion-MNIST images trained at 25 GFLOP/s by this estimate on a 2-core machine under a load average
# of 8 (12.5 per core), so the default config (24 runs) gets chunks of 8 models, about 47 s each there and
# less on an idle machine.  GPUs: a floor for small batched matmuls on any recent card.
CHUNK_TARGET_S = 60.0
CPU_FLOPS_PER_CORE = 10e9
GPU_FLOPS = 2e12


def _macs_per_sample(probe: nn.Module, x: torch.Tensor) -> float:
    """Multiply-adds of one forward pass per sample: Linear and Conv layers measured with hooks on a
    2-sample forward of `probe`; the parameter count when it has neither (or the forward fails)."""
    total = [0.0]

    def hook(m, inp, out):
        if isinstance(out, torch.Tensor) and out.dim() >= 1 and out.shape[0]:
            per = out.numel() / out.shape[0]
            total[0] += per * (m.in_features if isinstance(m, nn.Linear) else m.weight[0].numel())

    hs = [m.register_forward_hook(hook) for m in probe.modules()
          if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    try:
        with torch.no_grad():
            probe.eval()
            probe(x[:2].float())
    except Exception:  # noqa: BLE001 - an estimate only: fall back to the parameter count
        total[0] = 0.0
    finally:
        for h in hs:
            h.remove()
    return total[0] or float(sum(p.numel() for p in probe.parameters()))


def default_chunk(probe: nn.Module, data, epochs: int, device) -> int:
    """Models per chunk for chunk=None: about CHUNK_TARGET_S of training each (see above), at least 1."""
    from .engine.shards import usable_cores
    macs = _macs_per_sample(probe, data.x_train)
    n_val = len(data.x_val) if data.x_val is not None else 0
    flops = epochs * macs * (6.0 * len(data.x_train) + 2.0 * n_val)
    rate = GPU_FLOPS if getattr(device, "type", str(device)) == "cuda" else CPU_FLOPS_PER_CORE * usable_cores()
    return max(1, int(CHUNK_TARGET_S * rate // max(flops, 1.0)))


def _chunks(jobs, chunk):
    if chunk is None:
        return [jobs] if jobs else []
    if not isinstance(chunk, int) or chunk < 1:
        raise bad_argument(WHERE, "chunk", chunk, "a positive number of models per chunk, or None for all",
                           "e.g. chunk=8")
    return [jobs[i:i + chunk] for i in range(0, len(jobs), chunk)]
