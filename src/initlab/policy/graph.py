"""A small dataflow graph of a model's forward pass, and what it says about each layer:
the activation that follows it, and the residual branches it belongs to.

Built (see trace.py) from a torch.fx symbolic trace, or from a hooked forward
pass, or from module registration order.  Nodes are in execution order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .activations import Activation


@dataclass
class Node:
    kind: str                  # input | layer | activation | norm | add | pass | other | output | param
    label: str                 # op or module name, for reasons
    inputs: list = field(default_factory=list)
    layer: str | None = None   # module name of the weight layer (kind == layer)
    act: Activation | None = None


@dataclass
class Follow:
    """What a layer's output meets first (through shape-only ops and residual adds)."""

    kind: str                        # activation | norm | layer | other | output | unused | scaled | fused
    label: str
    act: Activation | None = None    # kind "fused": the activation applied to the first half
    gain: float | None = None        # kind "scaled": the factor the block's structure asks of this layer

    def text(self) -> str:
        if self.kind == "activation":
            return f"followed by {self.act.text}"
        if self.kind == "scaled":
            return f"read by {self.label}"
        if self.kind == "fused":
            return f"read as {self.label}"
        return {"norm": f"followed by {self.label} (a norm layer)", "layer": f"followed directly by layer {self.label}",
                "other": f"followed by {self.label} (no elementwise activation)",
                "output": "its output is the model's output (logits layer)",
                "unused": "not reached by the forward pass"}[self.kind]


@dataclass
class Branch:
    """A residual branch x + F(x): its layers in execution order, the last one, a norm after it."""

    layers: list
    last: str
    last_norm: str | None = None
    reads_attention: bool = False     # the last layer reads attention's output (a block table's attention branch)


@dataclass
class Topology:
    method: str                                   # "fx" | "hooked forward" | "registration order"
    follow: dict = field(default_factory=dict)    # layer module name -> Follow
    branches: list = field(default_factory=list)
    order: list = field(default_factory=list)     # layer names in execution order
    notes: list = field(default_factory=list)
    norm_only: set = field(default_factory=set)   # layers whose output only norms read (every call, every path)

    def branch_of(self, layer: str) -> tuple[Branch, int] | None:
        for b in self.branches:
            if layer in b.layers:
                return b, b.layers.index(layer)
        return None


def analyze(nodes: list[Node], method: str) -> Topology:
    """Follow each layer's output to its first decisive consumer; find residual branches."""
    consumers: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        for j in n.inputs:
            consumers[j].append(i)
    topo = Topology(method)
    calls: dict = {}
    for i, n in enumerate(nodes):
        if n.kind == "layer":
            calls.setdefault(n.layer, []).append(i)
        if n.kind == "layer" and n.layer not in topo.follow:
            topo.order.append(n.layer)
            topo.follow[n.layer] = _walk(i, nodes, consumers)
    if method != "registration order":     # a chain guessed from registration says nothing about other readers
        topo.norm_only = {name for name, idx in calls.items() if all(_only_norms(i, nodes, consumers) for i in idx)}
    topo.branches = _branches(nodes)
    return topo


def _only_norms(start: int, nodes, consumers) -> bool:
    """Whether every value path from node `start` (through shape-only ops) ends in a norm: then the layer's
    output scale is invisible to the rest of the forward pass (no residual add, activation or layer reads it)."""
    frontier, seen, found = list(consumers[start]), set(), False
    while frontier:
        i = frontier.pop()
        if i in seen:
            continue
        seen.add(i)
        n = nodes[i]
        if n.kind == "pass":
            frontier.extend(consumers[i])
        elif n.kind == "norm":
            found = True
        elif not (n.kind == "other" and n.label in SHAPE_OPS):    # reading its shape does not read its values
            return False
    return found


def _walk(start: int, nodes, consumers) -> Follow:
    frontier = sorted(consumers[start])
    seen = set()
    while frontier:
        i = frontier.pop(0)
        if i in seen:
            continue
        seen.add(i)
        n = nodes[i]
        if n.kind in ("pass", "add"):
            frontier = sorted(set(frontier) | set(consumers[i]))
            continue
        if n.kind == "activation":
            return Follow("activation", n.label, n.act)
        if n.kind in ("norm", "layer", "other", "output"):
            return Follow(n.kind, n.layer or n.label)
    return Follow("unused", "")


SHAPE_OPS = ("getattr", "size", "dim", "shape", "numel")   # read a tensor's shape, not its values


def _branches(nodes) -> list[Branch]:
    layer_anc: list[frozenset] = []
    data_anc: list[frozenset] = []      # the nodes whose values flow into node i (not through shape reads)
    for i, n in enumerate(nodes):
        s, d = set(), {i}
        for j in n.inputs:
            s |= layer_anc[j]
            if not (n.kind == "other" and n.label in SHAPE_OPS):
                d |= data_anc[j]
        if n.kind == "layer":
            s.add(i)
        layer_anc.append(frozenset(s))
        data_anc.append(frozenset(d))
    out, seen_last = [], set()
    for i, n in enumerate(nodes):
        ins = [j for j in n.inputs if nodes[j].kind != "param"]
        if n.kind != "add" or len(ins) < 2:
            continue
        a, b = ins[0], ins[1]
        da, db = layer_anc[a] - layer_anc[b], layer_anc[b] - layer_anc[a]
        if len(da) == len(db):
            continue  # e.g. token + position embeddings: a sum, not a skip connection
        if not (data_anc[a] & data_anc[b]):
            continue  # no common source: e.g. embed(x) + pos.weight[:T], a projection plus a learned table, is a
            #           sum of two inputs; a skip path carries the same value the branch starts from
        branch, only = (b, db) if len(db) > len(da) else (a, da)
        last, norm = _last_layer(branch, nodes)
        if last is None or last in seen_last:
            continue
        seen_last.add(last)
        names = []
        for k in sorted(only):
            if nodes[k].layer not in names:
                names.append(nodes[k].layer)
        if last not in names:
            names.append(last)
        out.append(Branch(names, last, norm))
    return out


def _last_layer(i: int, nodes) -> tuple[str | None, str | None]:
    """The weight layer nearest before node i (walking back through non-layer ops), and a norm in between."""
    norm = None
    frontier = [i]
    seen = set()
    while frontier:
        k = max(frontier)
        frontier.remove(k)
        if k in seen:
            continue
        seen.add(k)
        n = nodes[k]
        if n.kind == "layer":
            return n.layer, norm
        if n.kind == "norm" and norm is None:
            norm = n.label
        if n.kind in ("input", "add"):
            continue
        frontier.extend(j for j in n.inputs if nodes[j].kind != "param")
    return None, None
