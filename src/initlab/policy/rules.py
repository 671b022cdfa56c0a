"""`Rule`: one line of a policy written as data (which parameters, which scheme, which arguments).

A rule list is read like a firewall table (optax's `multi_transform` labels,
einops-style explicit names): the first rule that matches a parameter decides
it; a parameter no rule matches keeps its current values, and the plan says so.
A rule that matches nothing is an error, because it is almost always a typo.
Kept (frozen / pretrained) parameters are written only by a rule whose name= is
their exact qualified name: no glob, regex, type or param rule touches them.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field

import torch.nn as nn

from ..errors import InitError, bad_argument
from ..schemes import get_scheme

KEEP = "keep"


@dataclass(frozen=True)
class Rule:
    """`Rule(scheme, kwargs=None, *, type=None, name=None, param=None)`.

    scheme: a registered scheme name or alias (or "keep" to leave the parameter as it is).
    kwargs: the scheme's arguments, checked now (unknown names are an InitError).
    type:   a module class or tuple of classes owning the parameter (isinstance).
    name:   a glob on the qualified parameter name ("encoder.*.weight"), or "re:<regex>" (re.search).
            Parts of split parameters have names like "attn.in_proj_weight[q]"; a pattern may name them.
    param:  the parameter's own name: "weight", "bias", "in_proj_weight", ...

    Example:
        >>> initlab.Rule("kaiming_normal", {"nonlinearity": "relu"}, type=nn.Conv2d)
        >>> initlab.Rule("zeros", name="head.*")
    """

    scheme: str
    kwargs: dict | None = None
    type: type | tuple | None = None
    name: str | None = None
    param: str | None = None
    _regex: object = field(default=None, repr=False, compare=False)

    def __init__(self, scheme, kwargs=None, *, type=None, name=None, param=None):  # noqa: A002 - the issue's names
        where = "Rule"
        if isinstance(scheme, str) and scheme.strip().lower() == KEEP:
            sname, bound = KEEP, {}
            if kwargs:
                raise bad_argument(where, "kwargs", kwargs, "no arguments for 'keep'", "drop kwargs")
        else:
            try:
                s = get_scheme(scheme)
            except InitError as e:
                raise InitError(f"{where}: scheme={scheme!r} is not a registered scheme. {e}") from None
            if kwargs is not None and not isinstance(kwargs, dict):
                raise bad_argument(where, "kwargs", kwargs, "a dict of scheme arguments or None",
                                   f"e.g. Rule({s.name!r}, {{...}})")
            s.bind(**(kwargs or {}))  # unknown argument names fail here, not at apply time
            sname, bound = s.name, dict(kwargs or {})
        if type is not None:
            types = type if isinstance(type, tuple) else (type,)
            if not types or not all(isinstance(t, builtins_type) and issubclass(t, nn.Module) for t in types):
                raise bad_argument(where, "type", type, "a torch.nn.Module subclass or a tuple of them",
                                   "e.g. type=nn.Linear or type=(nn.Conv1d, nn.Conv2d)")
        regex = None
        if name is not None:
            if not isinstance(name, str) or not name:
                raise bad_argument(where, "name", name, "a glob such as 'encoder.*' or 're:<regex>'",
                                   "pass a non-empty string")
            if name.startswith("re:"):
                try:
                    regex = re.compile(name[3:])
                except re.error as e:
                    raise bad_argument(where, "name", name, "a valid regular expression after 're:'",
                                       f"fix the regex ({e}); or use a glob without the 're:' prefix") from None
        if param is not None and (not isinstance(param, str) or not param):
            raise bad_argument(where, "param", param, "a parameter name such as 'weight' or 'bias'",
                               "pass the parameter's own name, e.g. param='bias'")
        object.__setattr__(self, "scheme", sname)
        object.__setattr__(self, "kwargs", bound)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "param", param)
        object.__setattr__(self, "_regex", regex)

    def matches(self, module: nn.Module, qualified: str, display: str, local: str) -> bool:
        if self.type is not None and not isinstance(module, self.type):
            return False
        if self.param is not None and self.param != local:
            return False
        if self.name is not None and not self.matches_name(qualified, display):
            return False
        return True

    def matches_name(self, qualified: str, display: str) -> bool:
        if self.name is None:
            return False
        if self._regex is not None:
            return bool(self._regex.search(qualified) or self._regex.search(display))
        return fnmatch.fnmatchcase(qualified, self.name) or fnmatch.fnmatchcase(display, self.name)

    def names_exactly(self, qualified: str, display: str) -> bool:
        """True when `name` is the literal qualified name (no wildcard, no regex): the only way to write a kept
        (frozen / pretrained) parameter, so a broad pattern such as '*.bias' never touches a pretrained part."""
        if self.name is None or self._regex is not None or any(c in self.name for c in "*?["):
            return False
        return self.name in (qualified, display)

    def label(self) -> str:
        sel = []
        if self.type is not None:
            ts = self.type if isinstance(self.type, tuple) else (self.type,)
            sel.append("type=" + "|".join(t.__name__ for t in ts))
        if self.name is not None:
            sel.append(f"name={self.name!r}")
        if self.param is not None:
            sel.append(f"param={self.param!r}")
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"Rule({self.scheme}{'(' + args + ')' if args else ''}; {', '.join(sel) or 'every parameter'})"

    def to_dict(self) -> dict:
        ts = self.type if isinstance(self.type, tuple) else ((self.type,) if self.type else ())
        return {"scheme": self.scheme, "kwargs": dict(self.kwargs), "type": [t.__name__ for t in ts] or None,
                "name": self.name, "param": self.param}


builtins_type = type


def as_rule(item, index: int) -> Rule:
    """A Rule from a Rule, a scheme name, or a (scheme, kwargs) tuple."""
    if isinstance(item, Rule):
        return item
    if isinstance(item, str):
        return Rule(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
        return Rule(item[0], item[1])
    raise bad_argument("plan", f"policy[{index}]", item, "an initlab.Rule, a scheme name or a (scheme, kwargs) tuple",
                       "write e.g. initlab.Rule('zeros', name='head.*')")


def unmatched_error(rule: Rule, index: int, names: list[str], types: list[str]) -> InitError:
    """The error for a rule that matched no parameter: the nearest names (or the module types present)."""
    hint = ""
    if rule.name is not None:
        key = rule.name[3:] if rule.name.startswith("re:") else rule.name
        key = key.replace("*", "").replace("?", "")
        close = difflib.get_close_matches(key, names, n=5, cutoff=0.3)
        close = close or [n for n in names if key.strip(".") and key.strip(".") in n][:5] or names[:5]
        hint = "nearest parameter names: " + ", ".join(repr(c) for c in close) + "."
    elif rule.type is not None:
        hint = "module types with parameters in this model: " + ", ".join(sorted(set(types))) + "."
    elif rule.param is not None:
        locals_ = sorted({n.rsplit(".", 1)[-1] for n in names})
        hint = "parameter names here: " + ", ".join(repr(c) for c in locals_[:10]) + "."
    return InitError(f"plan: policy[{index}] = {rule.label()} matches no parameter of the model. "
                     f"Expected a rule that selects at least one parameter; {hint} "
                     "Fix: correct the pattern/type, or remove the rule.")
