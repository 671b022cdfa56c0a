"""The scheme registry: names, aliases, formulas and the law each scheme draws from.

`law(shape, **kwargs)` returns the distribution of one entry of a tensor of that
shape (a small dict), which is what a plan prints ("std 0.0625") and what
`Plan.verify` and the tests check samples against.  It is derived from the same
fan/gain code the schemes use, never restated.
"""
from __future__ import annotations

import functools
import inspect
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy
import torch

from ..errors import InitError, bad_argument, unknown_choice
from . import basic, structured, variance
from .dryrun import check_arguments
from .fans import calculate_gain, fans_from_shape, std_for


@dataclass(frozen=True)
class Scheme:
    """One registered scheme: call it like the function it wraps."""

    name: str
    fn: Callable
    formula: str
    paper: str = ""
    aliases: tuple[str, ...] = ()
    kind: str = "random"            # random | deterministic
    dims: tuple[int, int | None] = (1, None)   # allowed tensor.dim() range
    law: Callable | None = None     # (shape, **kwargs) -> dict
    torch_name: str | None = None   # same scheme in torch.nn.init (parity-tested)
    builtin: bool = True
    params: tuple[str, ...] = field(default=())

    def __call__(self, tensor, *args, **kwargs):
        return self.fn(tensor, *args, **kwargs)

    def bind(self, **kwargs) -> dict:
        """kwargs completed with the function's defaults; unknown names are an InitError."""
        sig = _signature(self.fn)
        accepted = list(_scheme_params(self.fn))
        open_ended = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        for k in kwargs:
            if k not in accepted and not (open_ended and k != "generator"):
                raise unknown_choice(f"scheme {self.name!r}", "argument", k, accepted,
                                     f"{self.name} takes " + (", ".join(accepted) or "no arguments"))
        out = {k: v for k, v in kwargs.items() if k not in accepted}   # extra keywords of a **kwargs scheme
        for p in accepted:
            par = sig.parameters[p]
            if p in kwargs:
                out[p] = kwargs[p]
            elif par.default is not inspect.Parameter.empty:
                out[p] = par.default
            else:
                raise bad_argument(f"scheme {self.name!r}", p, None, "a value (it has no default)",
                                   f"pass {p}=... in the scheme arguments")
        return out

    def describe(self, shape, **kwargs) -> dict | None:
        """Law of one entry for a tensor of `shape` (None when the scheme does not declare one).

        Arguments the scheme would refuse (for this shape) raise the same InitError here.
        """
        if self.law is None:
            return None
        shape = tuple(shape)
        if math.prod(shape) == 0:
            # A zero-size layer (nn.Linear(0, 4): weight (4, 0), fan 0) holds nothing to draw and the variance
            # laws would divide by its fan; torch.nn.init's functions are no-ops there.  The arguments are
            # still checked, on a same-rank shape with every size >= 1.
            self.describe(tuple(max(d, 1) for d in shape), **kwargs)
            return dict(EMPTY_LAW)
        bound = self.bind(**kwargs)
        if self.builtin:   # the scheme's own argument checks: bad arguments raise here too
            # A combination that passed once passes again: remember it (a plan describes every parameter).
            # Only plain values make a key (a tensor argument would compare elementwise).
            key = (id(self.fn), tuple(shape), tuple((k, _typed(v)) for k, v in sorted(bound.items()))) \
                if all(_plain(v) for v in bound.values()) else None
            if key is None or key not in _VALIDATED:
                # initlab's own checks (strict=True) where the scheme has them: a plan refuses what torch tolerates
                strict = {"strict": True} if "strict" in _signature(self.fn).parameters else {}
                check_arguments(self.fn, shape, {**bound, **strict})
                if key is not None:
                    if len(_VALIDATED) > 4096:
                        _VALIDATED.clear()
                    _VALIDATED.add(key)
        return self.law(tuple(shape), **bound)

    def to_dict(self) -> dict:
        return {"name": self.name, "aliases": list(self.aliases), "formula": self.formula,
                "paper": self.paper, "kind": self.kind, "torch": self.torch_name,
                "params": list(self.params), "builtin": self.builtin}


EMPTY_LAW = {"dist": "empty", "mean": 0.0, "std": 0.0}   # the law of a tensor with no entries
_VALIDATED: set = set()   # (scheme function id, shape, bound kwargs) that passed the scheme's own checks


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str)) or \
        (isinstance(v, tuple) and all(_plain(x) for x in v))


def _typed(v):
    """v with its type beside it (True == 1 == 1.0 in Python, but a scheme may accept one and refuse another)."""
    return (type(v).__name__, tuple(_typed(x) for x in v) if isinstance(v, tuple) else v)


@functools.lru_cache(maxsize=512)
def _cached_signature(fn) -> inspect.Signature:
    return inspect.signature(fn)


def _signature(fn) -> inspect.Signature:
    try:
        return _cached_signature(fn)
    except TypeError:                 # an unhashable callable (e.g. a dataclass instance with __call__)
        return inspect.signature(fn)


def _scheme_params(fn) -> tuple[str, ...]:
    """fn's scheme arguments: every parameter but the first (the tensor, whatever its name),
    `generator`, the built-ins' `strict` option and *args / **kwargs."""
    params = list(_signature(fn).parameters.values())[1:]
    return tuple(p.name for p in params
                 if p.name not in ("generator", "strict") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def _uniform(lo, hi):
    return {"dist": "uniform", "low": lo, "high": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / math.sqrt(12)}


def _normal(mean, std):
    return {"dist": "normal", "mean": mean, "std": std}


def _vs_law(gain_of, mode, distribution):
    """Law of a variance-scaling scheme; gain_of(kwargs) -> gain."""
    def law(shape, **kw):
        fi, fo = fans_from_shape(shape)
        m = kw.get("mode", mode)
        std = std_for(gain_of(kw), fi, fo, m)
        dist = kw.get("distribution", distribution)
        if dist == "uniform":
            b = math.sqrt(3.0) * std
            return _uniform(-b, b)
        if dist == "normal":
            return _normal(0.0, std)
        s = abs(std) / variance.TRUNC_STD_2
        return {"dist": "truncnorm", "mean": 0.0, "sigma": s, "a": -2 * s, "b": 2 * s, "std": abs(std)}
    return law


_GAUSS = tuple(torch.from_numpy(x) for x in numpy.polynomial.legendre.leggauss(16))   # nodes, weights on [-1, 1]


def _unit_trunc_moments(alpha: float, beta: float) -> tuple[float, float]:
    """Mean and std of N(0, 1) truncated to [alpha, beta].

    By composite Gauss-Legendre quadrature of the density relative to its mode,
    in offsets from the lower end: the closed form (pdf/cdf differences) cancels
    for narrow windows (negative variance) and far tails (0 / 0); this does not.
    """
    if beta <= 0:                                  # mirror the left tail onto the right
        m, sd = _unit_trunc_moments(-beta, -alpha)
        return -m, sd
    if alpha >= 0:                                 # one tail: x = alpha + u, density ~ exp(-u (2 alpha + u) / 2)
        lo, span = alpha, min(beta - alpha, 40.0 / (1.0 + alpha))
        density = lambda u: torch.exp(-u * (2 * alpha + u) / 2)  # noqa: E731
    else:                                          # the mode 0 inside: beyond +-12 the mass is < 1e-32
        lo = max(alpha, -12.0)
        span = min(beta, 12.0) - lo
        density = lambda u: torch.exp(-(lo + u) ** 2 / 2)  # noqa: E731
    nodes, weights = _GAUSS
    pieces = 64
    h = span / pieces
    left = torch.arange(pieces, dtype=torch.float64) * h
    u = (left[:, None] + (nodes + 1) * (h / 2)).flatten()
    w = weights.repeat(pieces) * density(u)
    total = w.sum()
    mu = (w * u).sum() / total
    var = (w * (u - mu) ** 2).sum() / total
    return lo + float(mu), math.sqrt(float(var))


def _trunc_law(shape, mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    law = {"dist": "truncnorm", "mean_param": mean, "sigma": std, "a": a, "b": b}
    if alpha == math.inf or beta == -math.inf:   # [a, b] more std away than a float holds: all on the near bound
        return dict(law, mean=a if alpha == math.inf else b, std=0.0)
    m, sd = _unit_trunc_moments(alpha, beta)
    return dict(law, mean=mean + std * m, std=std * sd)


_REGISTRY: dict[str, Scheme] = {}
_ALIASES: dict[str, str] = {}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower().rstrip("_")


def register_scheme(name: str, fn: Callable, *, formula: str = "user-defined", aliases=(), law=None,
                    paper: str = "", kind: str = "random", overwrite: bool = False, **_private) -> Scheme:
    """Register a scheme under `name` (and `aliases`) so policies, the CLI and get_scheme find it.

    `fn(tensor, ..., generator=None)` must fill `tensor` in place and return it.
    A function without a `generator` parameter is wrapped so it ignores one.

    Example:
        >>> def half_(t, generator=None):
        ...     return t.fill_(0.5)
        >>> initlab.register_scheme("half", half_, formula="w = 0.5")
    """
    if not callable(fn):
        raise bad_argument("register_scheme", "fn", fn, "a callable fn(tensor, ..., generator=None)",
                           "pass the function itself, not its result")
    key = _norm(name)
    if not key or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
        raise bad_argument("register_scheme", "name", name, "an identifier such as 'my_scheme'", "use letters, digits and _")
    builtin = bool(_private.get("builtin", False))
    if isinstance(aliases, str):
        aliases = (aliases,)
    alias_keys = tuple(_norm(a) for a in aliases)
    for arg, value, k in [("name", name, key)] + [("aliases", a, _norm(a)) for a in aliases]:
        if arg == "aliases" and not re.fullmatch(r"[a-z_][a-z0-9_]*", k):
            raise bad_argument("register_scheme", arg, value, "identifiers such as 'my_alias'",
                               "use letters, digits and _")
        existing = _REGISTRY.get(_ALIASES.get(k, k))
        if existing is None or (arg == "aliases" and existing.name == key):
            continue
        if existing.builtin and not builtin:
            raise bad_argument("register_scheme", arg, value, "a name that is not a built-in scheme or alias",
                               f"built-in {existing.name!r} cannot be replaced; register yours under another name")
        if not overwrite or arg == "aliases":   # overwrite replaces your own scheme, never another's alias
            raise bad_argument("register_scheme", arg, value, "a name not already registered",
                               f"{value!r} is taken by {existing.name!r}; choose another "
                               + ("alias" if arg == "aliases" else "name, or pass overwrite=True to replace your own scheme"))
    sig = inspect.signature(fn)
    if "generator" not in sig.parameters and not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        inner = fn

        def fn(tensor, *args, generator=None, **kwargs):  # noqa: F811 - wrapper drops the generator
            return inner(tensor, *args, **kwargs)
        fn.__signature__ = sig.replace(parameters=list(sig.parameters.values()) + [
            inspect.Parameter("generator", inspect.Parameter.KEYWORD_ONLY, default=None)])
        fn.__doc__ = inner.__doc__
    params = _scheme_params(fn)
    spec = Scheme(name=key, fn=fn, formula=formula, paper=paper, aliases=alias_keys,
                  kind=kind, law=law, builtin=builtin,
                  dims=_private.get("dims", (1, None)), torch_name=_private.get("torch_name"), params=params)
    _REGISTRY[key] = spec
    for a in spec.aliases:
        _ALIASES[a] = key
    return spec


def get_scheme(name) -> Scheme:
    """The Scheme registered under `name` or one of its aliases (case, '-' and trailing '_' ignored)."""
    if isinstance(name, Scheme):
        return name
    if not isinstance(name, str):
        raise bad_argument("get_scheme", "name", name, "a scheme name (str)", "see initlab.list_schemes()")
    key = _norm(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise unknown_choice("get_scheme", "name", name, sorted(list(_REGISTRY) + list(_ALIASES)),
                             "run `initlab schemes` to see every scheme with its formula.")
    return _REGISTRY[key]


def list_schemes(*, with_aliases: bool = False):
    """Names of all registered schemes (sorted); with_aliases=True gives {name: aliases}."""
    if with_aliases:
        return {k: list(v.aliases) for k, v in sorted(_REGISTRY.items())}
    return sorted(_REGISTRY)


def registered_schemes() -> list[Scheme]:
    """All registered Scheme objects, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def schemes() -> list[Scheme]:
    """Deprecated name of `registered_schemes()` (`initlab.schemes` is the subpackage)."""
    warnings.warn("initlab.schemes() is deprecated: use initlab.registered_schemes() (initlab.schemes is the "
                  "schemes subpackage)", DeprecationWarning, stacklevel=2)
    return registered_schemes()


def _builtin(name, fn, formula, paper="", aliases=(), kind="random", dims=(1, None), law=None, torch_name=None):
    register_scheme(name, fn, formula=formula, paper=paper, aliases=aliases, kind=kind, law=law,
                    builtin=True, dims=dims, torch_name=torch_name)


_SQ5 = math.sqrt(5)
_builtin("uniform", basic.uniform_, "U(a, b)", torch_name="uniform_",
         law=lambda shape, a, b: _uniform(a, b))
_builtin("normal", basic.normal_, "N(mean, std^2)", aliases=("gaussian",), torch_name="normal_",
         law=lambda shape, mean, std: _normal(mean, std))
_builtin("trunc_normal", basic.trunc_normal_, "N(mean, std^2) truncated to [a, b] (absolute bounds)",
         aliases=("truncated_normal",), torch_name="trunc_normal_", law=_trunc_law)
_builtin("constant", basic.constant_, "w = val", kind="deterministic", torch_name="constant_",
         law=lambda shape, val: {"dist": "constant", "value": float(val), "mean": float(val), "std": 0.0})
_builtin("ones", basic.ones_, "w = 1", kind="deterministic", aliases=("one",), torch_name="ones_",
         law=lambda shape: {"dist": "constant", "value": 1.0, "mean": 1.0, "std": 0.0})
_builtin("zeros", basic.zeros_, "w = 0", kind="deterministic", torch_name="zeros_",
         law=lambda shape: {"dist": "constant", "value": 0.0, "mean": 0.0, "std": 0.0})
_builtin("centered_uniform", basic.centered_uniform_, "U[-0.5, 0.5)", paper="seed 004",
         aliases=("centered",), law=lambda shape: _uniform(-0.5, 0.5))
_builtin("inverse_fan_uniform", basic.inverse_fan_uniform_, "U(-1/fan_in, 1/fan_in)", paper="seed 001 rule of thumb",
         aliases=("rule_of_thumb", "one_over_n"), dims=(2, None),
         law=lambda shape: _uniform(-1.0 / fans_from_shape(shape)[0], 1.0 / fans_from_shape(shape)[0]))
_builtin("variance_scaling", variance.variance_scaling_,
         "Var = scale / fan; normal, uniform (+-sqrt(3 scale/fan)) or truncated normal (std-corrected)",
         paper="JAX/Keras variance_scaling", dims=(2, None),
         law=_vs_law(lambda kw: math.sqrt(kw["scale"]), "fan_in", "truncated_normal"))
_builtin("xavier_uniform", variance.xavier_uniform_, "U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))",
         paper="Glorot & Bengio 2010", aliases=("glorot_uniform", "xavier"), dims=(2, None), torch_name="xavier_uniform_",
         law=_vs_law(lambda kw: kw["gain"], "fan_avg", "uniform"))
_builtin("xavier_normal", variance.xavier_normal_, "N(0, gain^2 2 / (fan_in + fan_out))",
         paper="Glorot & Bengio 2010", aliases=("glorot_normal",), dims=(2, None), torch_name="xavier_normal_",
         law=_vs_law(lambda kw: kw["gain"], "fan_avg", "normal"))
_builtin("kaiming_uniform", variance.kaiming_uniform_, "U(-b, b), b = gain sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)",
         paper="He et al. 2015", aliases=("he_uniform", "kaiming"), dims=(2, None), torch_name="kaiming_uniform_",
         law=_vs_law(lambda kw: calculate_gain(kw["nonlinearity"], kw["a"]), "fan_in", "uniform"))
_builtin("kaiming_normal", variance.kaiming_normal_, "N(0, gain^2 / fan), gain = calculate_gain(nonlinearity, a)",
         paper="He et al. 2015", aliases=("he_normal", "he"), dims=(2, None), torch_name="kaiming_normal_",
         law=_vs_law(lambda kw: calculate_gain(kw["nonlinearity"], kw["a"]), "fan_in", "normal"))
_builtin("lecun_uniform", variance.lecun_uniform_, "U(-b, b), b = sqrt(3 / fan_in)", paper="LeCun et al. 1998",
         dims=(2, None), law=_vs_law(lambda kw: 1.0, "fan_in", "uniform"))
_builtin("lecun_normal", variance.lecun_normal_, "N(0, 1 / fan_in)", paper="LeCun et al. 1998; Klambauer et al. 2017",
         aliases=("lecun",), dims=(2, None), law=_vs_law(lambda kw: 1.0, "fan_in", "normal"))
_builtin("general_rule_uniform", variance.general_rule_uniform_, "U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
         paper="seed 004 general rule; torch's nn.Linear default", aliases=("general_rule", "uniform_rule"),
         dims=(2, None), law=_vs_law(lambda kw: calculate_gain("leaky_relu", _SQ5), "fan_in", "uniform"))
_builtin("general_rule_normal", variance.general_rule_normal_, "N(0, std^2), std = 1/sqrt(fan_in)",
         paper="seed 004 normal rule", aliases=("normal_rule",), dims=(2, None),
         law=_vs_law(lambda kw: 1.0, "fan_in", "normal"))
_builtin("orthogonal", structured.orthogonal_, "gain * Q, Q (semi-)orthogonal from the QR of a Gaussian matrix",
         paper="Saxe et al. 2013", dims=(2, None), torch_name="orthogonal_",
         law=lambda shape, gain: {"dist": "orthogonal", "gain": gain, "mean": 0.0,
                                  "std": abs(gain) / math.sqrt(max(shape[0], math.prod(shape[1:])))})
_builtin("eye", structured.eye_, "identity matrix", aliases=("identity",), kind="deterministic", dims=(2, 2),
         torch_name="eye_", law=lambda shape: {"dist": "exact"})
_builtin("dirac", structured.dirac_, "Dirac delta kernel (identity convolution)", kind="deterministic", dims=(3, 5),
         torch_name="dirac_", law=lambda shape, groups: {"dist": "exact"})
_builtin("sparse", structured.sparse_, "N(0, std^2) with ceil(sparsity*rows) zeros per column", paper="Martens 2010",
         dims=(2, 2), torch_name="sparse_",
         law=lambda shape, sparsity, std: {"dist": "sparse", "sigma": std,
                                           "zeros_per_column": math.ceil(sparsity * shape[0]),
                                           "mean": 0.0, "std": std * math.sqrt(1 - math.ceil(sparsity * shape[0]) / shape[0])})
_builtin("zero_init", structured.zero_init_, "identity / partial identity / c * Hadamard block (zeros and ones)",
         paper="Zhao et al. 2021 (ZerO)", aliases=("zer0", "zero_o"), kind="deterministic", dims=(2, None),
         law=lambda shape: {"dist": "exact"})

__all__ = ["Scheme", "register_scheme", "get_scheme", "list_schemes", "registered_schemes", "InitError"]
