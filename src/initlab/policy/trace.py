"""Three ways to see a model's forward pass, tried in order (the plan records which one worked):

1. torch.fx symbolic trace (no data needed; sees F.relu, torch.tanh, x.relu(), adds);
2. a hooked forward pass on `example_inputs` under a TorchFunctionMode, which
   sees every torch function and Tensor method that runs (works with
   data-dependent control flow that fx cannot trace);
3. module registration order (modules only; functional activations are invisible).

Nothing here writes the model: the forward pass runs in eval mode, under
no_grad, with the RNG state forked and restored, and training flags restored.
"""
from __future__ import annotations

import contextlib
import threading

import torch
import torch.fx as fx
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from ..errors import _AS_INIT, InitError
from .activations import (ADD, IGNORE, LAYER_FUNCS, NORM_FUNCS, PASS, PASS_MODULES, SCALE, activation_of_call,
                          activation_of_module)
from .graph import Follow, Node, Topology, analyze
from .families import family as _family
from .families import is_norm, is_weight_layer
from .targets import MHA


def _leafy(m: nn.Module) -> bool:
    """Weight layers, norms and PReLU: modules the tracers treat as one op."""
    return _family(m) not in ("unknown",)


def layer_name(mname: str, m: nn.Module) -> str:
    """The weight layer a module call stands for (an MHA's output is its out_proj)."""
    return f"{mname}.out_proj" if isinstance(m, MHA) else mname


def classify_module(mname: str, m: nn.Module) -> Node:
    if is_weight_layer(m):
        return Node("layer", mname, layer=layer_name(mname, m))
    if is_norm(m):
        return Node("norm", mname)
    act = activation_of_module(m)
    if act is not None:
        return Node("activation", act.text, act=act)
    if isinstance(m, PASS_MODULES):
        return Node("pass", type(m).__name__)
    return Node("other", f"{type(m).__name__} {mname!r}")


def classify_call(name: str, rest: tuple, kwargs: dict, owner: str | None, tensor_args: int,
                  norm_owner: str | None = None) -> Node:
    """A function/method call; `owner`: the weight layer (`norm_owner`: the norm) whose parameter is an argument."""
    if name in NORM_FUNCS:
        return Node("norm", norm_owner or name)
    if owner is not None and name in LAYER_FUNCS:
        return Node("layer", name, layer=owner)
    act = activation_of_call(name, rest, kwargs)
    if act is not None:
        return Node("activation", act.text, act=act)
    if name in ADD and tensor_args >= 2:
        return Node("add", name)
    if name in PASS or (name in SCALE + ADD and tensor_args <= 1):
        return Node("pass", name)
    return Node("other", name)


# ---------------------------------------------------------------- 1. torch.fx
class _Tracer(fx.Tracer):
    """Leaves: weight layers, norms, activations and other torch.nn modules; containers are traced through.

    torch.fx patches ``nn.Module.__call__`` and ``__getattr__`` for the whole process while it traces, so a
    module called in another thread meanwhile (the web demo trains in one thread while a request plans in
    another) would be recorded into this graph or fail with "module is not installed as a submodule".
    Calls and attribute reads from any thread but the tracing one pass straight through."""

    def trace(self, root, concrete_args=None):
        self._owner = threading.get_ident()
        return super().trace(root, concrete_args)

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self._owner:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self._owner:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def is_leaf_module(self, m, qualname):
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        if _leafy(m) or activation_of_module(m) is not None:
            return True
        return super().is_leaf_module(m, qualname)


def from_fx(model: nn.Module) -> list[Node]:
    graph = _Tracer().trace(model)
    modules = dict(model.named_modules())
    owners = _param_owners(model)
    attr_owner = {}
    index, nodes = {}, []
    for n in graph.nodes:
        ins = [index[a] for a in n.all_input_nodes if a in index]
        if n.op == "placeholder":
            node = Node("input", n.target)
        elif n.op == "get_attr":
            node = Node("param", n.target)
            p = _get_attr(model, n.target)
            if p is not None and id(p) in owners:
                attr_owner[n] = owners[id(p)]
        elif n.op == "call_module":
            node = classify_module(n.target, modules[n.target])
        elif n.op in ("call_function", "call_method"):
            args = n.args[1:] if n.args else ()
            owner = next((attr_owner[a] for a in n.all_input_nodes if a in attr_owner), None)
            tensor_args = sum(1 for a in n.all_input_nodes if a not in attr_owner)
            node = classify_call(_op(n.target), args, dict(n.kwargs), owner, tensor_args)
        elif n.op == "output":
            node = Node("output", "output")
        else:
            node = Node("other", str(n.op))
        node.inputs = ins
        index[n] = len(nodes)
        nodes.append(node)
    return nodes


def _op(target) -> str:
    from .activations import op_name
    return op_name(target)


def _get_attr(model, target):
    obj = model
    for bit in target.split("."):
        obj = getattr(obj, bit, None)
        if obj is None:
            return None
    return obj


def _param_owners(model) -> dict:
    """id(param) -> weight layer name, for parameters of weight layers."""
    out = {}
    for mname, m in model.named_modules():
        if is_weight_layer(m):
            for p in m.parameters(recurse=False):
                out.setdefault(id(p), layer_name(mname, m))
            if isinstance(m, MHA):
                for p in m.out_proj.parameters():
                    out[id(p)] = layer_name(mname, m)
    return out


# ---------------------------------------------------------------- 2. hooked forward
class _Recorder(TorchFunctionMode):
    def __init__(self, owners, norms):
        super().__init__()
        self.owners = owners
        self.norms = norms
        self.nodes: list[Node] = []
        self.key: dict[int, int] = {}
        self.refs = []  # keep tensors alive so their ids are not reused
        self.inside = 0  # > 0 while a norm module runs: its ops are one "norm" node, recorded when it returns

    def add_tensor(self, t, idx):
        self.key[id(t)] = idx
        self.refs.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _op(func)
        if name in IGNORE or self.inside:
            return out
        flat = _tensors((args, kwargs))
        ins = [self.key[id(t)] for t in flat if id(t) in self.key]
        owner = next((self.owners[id(t)] for t in flat if id(t) in self.owners), None)
        norm = next((self.norms[id(t)] for t in flat if id(t) in self.norms), None)
        tensor_args = sum(1 for t in flat if id(t) not in self.owners and id(t) not in self.norms)
        rest = tuple(a for a in args[1:]) if args else ()
        node = classify_call(name, rest, kwargs, owner, tensor_args, norm)
        node.inputs = sorted(set(ins))
        outs = _tensors(out)
        if not outs:
            return out
        idx = len(self.nodes)
        self.nodes.append(node)
        for t in outs:
            self.add_tensor(t, idx)
        return out

    def enter_norm(self, module, args, kwargs):
        self.inside += 1

    def exit_norm(self, name):
        """A norm module's call as one node: an RMSNorm written as pow/mean/rsqrt/mul (Llama's, T5's) is then a
        norm to the graph, as torch's own norms are through their functional call."""
        def hook(module, args, kwargs, out):
            self.inside -= 1
            if self.inside:
                return None
            outs = _tensors(out)
            if outs:
                ins = sorted({self.key[id(t)] for t in _tensors((args, kwargs)) if id(t) in self.key})
                self.nodes.append(Node("norm", name, inputs=ins))
                for t in outs:
                    self.add_tensor(t, len(self.nodes) - 1)
            return None
        return hook


def _tensors(obj) -> list:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


@contextlib.contextmanager
def quiet_forward(model: nn.Module):
    """eval mode, no_grad, RNG forked: a forward pass that leaves no trace in the model or the RNG."""
    flags = {m: m.training for m in model.modules()}
    devices = sorted({p.device.index for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            yield
    finally:
        for m, f in flags.items():
            m.training = f


# what a model raises when it refuses the inputs it is given (a wrong shape, a string for a tensor, a missing
# key): reported as an InitError naming the inputs.  Other exceptions are bugs and pass through.
FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, AssertionError, AttributeError, KeyError,
                  NotImplementedError)


def call(model, example_inputs):
    if isinstance(example_inputs, dict):
        return model(**example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return model(*example_inputs)
    return model(example_inputs)


def from_forward(model: nn.Module, example_inputs) -> list[Node]:
    norm_modules = [(n, m) for n, m in model.named_modules() if is_norm(m)]
    norms = {id(p): n for n, m in norm_modules for p in m.parameters(recurse=False)}   # functional calls on them
    rec = _Recorder(_param_owners(model), norms)
    for t in _tensors(example_inputs):
        rec.nodes.append(Node("input", "input"))
        rec.add_tensor(t, len(rec.nodes) - 1)
    handles = []
    for n, m in norm_modules:                                                           # module calls: one node
        handles.append(m.register_forward_pre_hook(rec.enter_norm, with_kwargs=True))
        handles.append(m.register_forward_hook(rec.exit_norm(n), with_kwargs=True))
    with quiet_forward(model):
        try:
            with rec:
                out = call(model, example_inputs)
        except FORWARD_ERRORS as e:
            raise input_error(model, example_inputs, e) from None
        finally:
            for h in handles:
                h.remove()
    ins = sorted({rec.key[id(t)] for t in _tensors(out) if id(t) in rec.key})
    rec.nodes.append(Node("output", "output", inputs=ins))
    return rec.nodes


def check_inputs(model: nn.Module, example_inputs) -> None:
    """Run one quiet forward pass so a wrong input shape fails at planning time, with a clear message."""
    with quiet_forward(model):
        try:
            call(model, example_inputs)
        except FORWARD_ERRORS as e:
            raise input_error(model, example_inputs, e) from None


def shapes(example_inputs) -> str:
    ts = _tensors(example_inputs)
    if not ts:
        return repr(type(example_inputs).__name__)
    return ", ".join(str(tuple(t.shape)) for t in ts)


def expected_input(model: nn.Module) -> str:
    for mname, m in model.named_modules():
        name = mname or "<root>"
        if isinstance(m, nn.Linear):
            return f"(batch, ..., {m.in_features}) for the first layer {name!r} (Linear in_features={m.in_features})"
        if isinstance(m, nn.modules.conv._ConvNd):
            d = len(m.kernel_size)
            sp = ", ".join("L" if d == 1 else f"d{i}" for i in range(d))
            return f"(batch, {m.in_channels}, {sp}) for the first layer {name!r} ({type(m).__name__} in_channels={m.in_channels})"
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            return f"integer indices in [0, {m.num_embeddings}) for the first layer {name!r} (Embedding)"
        if isinstance(m, nn.RNNBase):
            order = "(batch, seq, {0})" if m.batch_first else "(seq, batch, {0})"
            return order.format(m.input_size) + f" for the first layer {name!r} ({type(m).__name__})"
    return "what the model's forward() accepts"


def input_error(model, example_inputs, exc, where: str = "plan", arg: str = "example_inputs") -> InitError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # an InitError that is also the model's own type (InitRuntimeError for a RuntimeError): code that catches
    # what the model raises keeps working
    cls = _AS_INIT.get(type(exc), InitError)
    return cls(f"{where}: {arg} has shape {shapes(example_inputs)}, but the forward pass failed "
                     f"({type(exc).__name__}: {msg}); expected {expected_input(model)}. "
                     f"Fix: pass {arg} shaped like a real batch (a tensor, a tuple of positional "
                     "arguments, or a dict of keyword arguments).")


# ---------------------------------------------------------------- 3. registration order
def from_registration(model: nn.Module) -> list[Node]:
    nodes = [Node("input", "input")]
    prefixes = tuple(p + "." for p in _leaf_prefixes(model))      # once, not per module (O(n) not O(n^2))
    for mname, m in model.named_modules():
        leaf = _leafy(m) or not any(True for _ in m.children())
        inside = mname.startswith(prefixes) if prefixes else False
        if not leaf or inside or m is model and any(True for _ in m.children()):
            continue
        node = classify_module(mname, m)
        if node.kind == "other" and not any(True for _ in m.parameters(recurse=False)):
            node.kind = "pass"  # an unknown parameter-free module: assume it keeps the signal
        node.inputs = [len(nodes) - 1]
        nodes.append(node)
    nodes.append(Node("output", "output", inputs=[len(nodes) - 1]))
    return nodes


def _leaf_prefixes(model):
    return [n for n, m in model.named_modules() if n and (is_weight_layer(m) or is_norm(m))]


# ---------------------------------------------------------------- orchestration
def topology(model: nn.Module, example_inputs=None) -> Topology:
    """Try fx, then a hooked forward pass (needs example_inputs), then registration order."""
    notes = []
    try:
        topo = analyze(from_fx(model), "fx")
        if example_inputs is not None:
            check_inputs(model, example_inputs)
    except InitError:
        raise
    except Exception as e:  # noqa: BLE001 - any trace failure means: try the next method
        notes.append(f"fx symbolic trace failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        if example_inputs is not None:
            topo = analyze(from_forward(model, example_inputs), "hooked forward")
        else:
            notes.append("no example_inputs, so no hooked forward pass; pass example_inputs=... to trace "
                         "functional activations")
            topo = analyze(from_registration(model), "registration order")
    # Layers the chosen method could not see (inside a leaf such as nn.TransformerEncoderLayer).
    # (a mixture-of-experts module is no single layer: its weights are layers of their own, named by blocks.py)
    missing = [n for n, m in model.named_modules() if is_weight_layer(m) and n not in topo.follow
               and layer_name(n, m) not in topo.follow and _family(m) != "experts"]
    if missing and topo.method != "registration order":
        reg = analyze(from_registration(model), "registration order")
        for n in missing:
            if n in reg.follow:
                topo.follow[n] = reg.follow[n]
        notes.append(f"{len(missing)} layer(s) not seen by {topo.method} (inside a leaf module); "
                     "their activations come from registration order: " + ", ".join(missing[:5]))
    from . import blocks
    covered = blocks.apply(model, topo)
    if topo.method == "registration order":
        notes.extend(_guess_warning(model, topo, covered))
    topo.notes = notes + topo.notes
    return topo


def _guess_warning(model: nn.Module, topo: Topology, covered: set) -> list[str]:
    """The loud note for layers whose activation and residual position were guessed from registration order."""
    guessed = [n for n, m in model.named_modules() if _family(m) in ("linear", "conv", "conv_transpose")
               and n not in covered]
    if guessed and topo.follow.get(guessed[-1], Follow("other", "")).kind == "output":
        guessed = guessed[:-1]     # the last layer of registration order is the output layer: that much is known
    if not guessed:
        return []
    names = ", ".join(guessed[:6]) + (f" and {len(guessed) - 6} more" if len(guessed) > 6 else "")
    return [f"WARNING: structure unknown for {len(guessed)} layer(s) ({names}): torch.fx cannot trace this model "
            "and no example_inputs were given, so the activation after each of these rows was guessed from "
            "registration order (functional activations are invisible) and no residual branch through them can be "
            "found (residual scaling and activation gains for these rows may be wrong). Fix: pass "
            "example_inputs=<a batch> so a hooked forward pass sees the real structure, or register the block "
            "(initlab.policy.blocks)"]


__all__ = ["topology", "Follow", "quiet_forward", "check_inputs", "call"]


def run_hooked(model: nn.Module, example_inputs, hooks: dict) -> None:
    """One quiet forward pass of `model` on `example_inputs` with `hooks` ({module: forward hook taking
    kwargs}) installed, removed afterwards whatever happens (LSUV and auto's calibration both measure so)."""
    handles = [m.register_forward_hook(h, with_kwargs=True) for m, h in hooks.items()]
    try:
        with quiet_forward(model):
            call(model, example_inputs)
    finally:
        for h in handles:
            h.remove()
