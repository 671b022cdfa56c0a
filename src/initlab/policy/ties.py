"""Tied parameters: one tensor reachable under several names (an output head tied to the input embedding,
GPT-2's `lm_head.weight` = `transformer.wte.weight`; BERT's decoder bias = `cls.predictions.bias`).

A tie is the same Parameter object registered twice, or two Parameter objects that view the same storage
(same data pointer, offset, shape and strides).  Either way the tensor is planned ONCE: one target whose
`aliases` name every other name, written once at apply time.  The owner that decides the family is the
first *known* one (BERT's `cls.predictions.bias` belongs to an unknown head module, its alias
`cls.predictions.decoder.bias` to an nn.Linear: the bias is planned as the Linear's).

An embedding tied to an output head sets the scale of the logits: see `tied_head` and auto's embedding rule.
"""
from __future__ import annotations

import torch.nn as nn

from . import families
from .keep import kept_reason


def _storage_key(p):
    """(data pointer, offset, shape, strides) for tensors with real storage; None on meta or without storage."""
    if p.is_meta or p.device.type == "meta":
        return None
    try:
        ptr = p.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None
    if not ptr:
        return None
    return (p.device.type, ptr, p.storage_offset(), tuple(p.shape), tuple(p.stride()))


def alias_groups(model: nn.Module) -> dict:
    """id(first parameter object) -> [qualified names of every name of that tensor], first name first."""
    by_id: dict[int, list[str]] = {}
    first_obj: dict[int, object] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), []).append(name)
        first_obj.setdefault(id(p), p)
    by_storage: dict = {}
    out: dict[int, list[str]] = {}
    for pid, names in by_id.items():
        key = _storage_key(first_obj[pid])
        if key is not None and key in by_storage:
            out[by_storage[key]].extend(names)        # a different Parameter viewing the same storage
            continue
        if key is not None:
            by_storage[key] = pid
        out[pid] = list(names)
    return out


def resolve_ties(model: nn.Module, targets: list) -> list:
    """Fold tied parameters into one target each (with `aliases`), owned by their first known module."""
    groups = alias_groups(model)
    if all(len(v) == 1 for v in groups.values()):
        return targets
    first_of = {names[0]: names for names in groups.values()}
    modules = dict(model.named_modules(remove_duplicate=False))
    dropped = {n for names in groups.values() for n in names[1:]}
    out = []
    for t in targets:
        if t.param_name in dropped and t.param_name not in first_of:
            continue                                     # a storage alias of an earlier target
        names = first_of.get(t.param_name)
        if names is None or len(names) == 1:
            out.append(t)
            continue
        t.aliases = tuple(names[1:])
        if t.family == "unknown":
            for alias in t.aliases:
                mname, _, local = alias.rpartition(".")
                mod = modules.get(mname)
                fam = families.param_family(mod, local, t.param, mname) if mod is not None else "unknown"
                if fam != "unknown":
                    t.module, t.module_name, t.local, t.family = mod, mname, local, fam
                    t.transposed = (fam == "linear" and local == "weight" and t.param.dim() == 2
                                    and families.layout(mod) == "in_out")
                    break
        if t.kept is None:
            for alias in t.aliases:
                mname = alias.rpartition(".")[0]
                owners = [("", model)] + [(n, modules[n]) for n in _prefixes(mname) if n in modules]
                why = kept_reason(alias, t.param, owners, ())
                if why is not None:
                    t.kept = f"tied to {alias!r}, which is kept: {why}"
                    break
        out.append(t)
    return out


def _prefixes(mname: str) -> list[str]:
    bits = mname.split(".") if mname else []
    return [".".join(bits[:i]) for i in range(1, len(bits) + 1)]


def alias_modules(model: nn.Module, t) -> list:
    """(qualified name, owning module) of every alias of target `t`."""
    modules = dict(model.named_modules(remove_duplicate=False))
    out = []
    for alias in t.aliases:
        mname = alias.rpartition(".")[0]
        if mname in modules:
            out.append((alias, modules[mname]))
    return out


def tied_head(model: nn.Module, t) -> str | None:
    """The name of an output head (a dense layer) that shares this embedding's weight, or None."""
    if t.family != "embedding":
        return None
    for alias, mod in alias_modules(model, t):
        if families.family(mod) == "linear":
            return alias
    return None


def tie_text(t) -> str:
    """' (tied: also written as a, b)' for a target with aliases, else ''."""
    if not t.aliases:
        return ""
    return "; tied: one tensor, also named " + ", ".join(repr(a) for a in t.aliases) + " (planned and written once)"


__all__ = ["alias_groups", "resolve_ties", "tied_head", "tie_text", "alias_modules"]
