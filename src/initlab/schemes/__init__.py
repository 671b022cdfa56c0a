"""Tensor-level schemes: in-place `name_(tensor, ..., *, generator=None)` functions.

Layer 1 of initlab: nothing here knows about modules or models.  Reachable as
`initlab.schemes` (e.g. `initlab.schemes.kaiming_normal_`); the registry lists them:
`registered_schemes()` (Scheme objects) and `list_schemes()` (names).
"""
import sys as _sys
import types as _types
import warnings as _warnings

from .basic import (centered_uniform_, constant_, inverse_fan_uniform_, normal_, ones_, trunc_normal_, uniform_,
                    zeros_)
from .fans import calculate_fan_in_and_fan_out, calculate_gain, fans_from_shape
from .registry import Scheme, get_scheme, list_schemes, register_scheme, registered_schemes
from .registry import schemes  # noqa: F401  (deprecated alias of registered_schemes, not in __all__)
from .structured import dirac_, eye_, hadamard, orthogonal_, sparse_, zero_init_, zero_matrix
from .variance import (general_rule_normal_, general_rule_uniform_, kaiming_normal_, kaiming_uniform_, lecun_normal_,
                       lecun_uniform_, variance_scaling_, xavier_normal_, xavier_uniform_)

__all__ = [
    "uniform_", "normal_", "constant_", "ones_", "zeros_", "trunc_normal_", "centered_uniform_",
    "inverse_fan_uniform_", "general_rule_uniform_", "general_rule_normal_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_",
    "orthogonal_", "eye_", "dirac_", "sparse_", "zero_init_", "hadamard", "zero_matrix",
    "calculate_gain", "calculate_fan_in_and_fan_out", "fans_from_shape",
    "Scheme", "get_scheme", "list_schemes", "register_scheme", "registered_schemes",
]


class _SchemesModule(_types.ModuleType):
    """This subpackage, still callable as the listing function it replaced (`initlab.schemes()` was one
    until 0.1; the function shadowed the package).  Calling it warns and returns registered_schemes()."""

    def __call__(self):
        _warnings.warn("initlab.schemes() is deprecated: use initlab.registered_schemes() (initlab.schemes is "
                       "the schemes subpackage)", DeprecationWarning, stacklevel=2)
        return registered_schemes()


_sys.modules[__name__].__class__ = _SchemesModule
