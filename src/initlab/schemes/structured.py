"""Structured schemes: orthogonal, identity (eye, dirac), sparse and ZerO.

These build a matrix with a property (orthogonality, identity, sparsity)
rather than drawing i.i.d. values.
"""
from __future__ import annotations

import math

import torch

from ..errors import bad_argument, check_finite
from .fans import MAX_SIGMAS, check_fits, check_float_tensor, is_empty

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@torch.no_grad()
def orthogonal_(tensor: torch.Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None):
    """(Semi-)orthogonal matrix times `gain` (Saxe et al. 2013), flattened to (rows, prod(rest)).

    W W^T = gain^2 I when rows <= cols, W^T W = gain^2 I otherwise.  Q is the QR
    factor of a Gaussian matrix with signs fixed by diag(R) so it is Haar
    distributed (Mezzadri 2007).  Low precision tensors are built in float32.

    Example:
        >>> initlab.orthogonal_(torch.empty(64, 64), gain=2 ** 0.5)
    """
    where = "orthogonal_"
    check_float_tensor(tensor, where)
    check_finite(where, gain=gain)
    check_fits(where, tensor, "gain", gain, abs(gain))   # entries of gain * (unit vector)
    if tensor.dim() < 2:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a tensor with at least 2 dims",
                           "orthogonal_ needs a matrix; for a 1-D bias use zeros_")
    if is_empty(tensor) or tensor.is_meta:   # meta: no storage, nothing to draw (as torch)
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    work_dtype = torch.float32 if tensor.dtype in _LOW_PRECISION else tensor.dtype
    flat = torch.empty((rows, cols), dtype=work_dtype, device=tensor.device).normal_(0, 1, generator=generator)
    if rows < cols:
        flat.t_()
    q, r = torch.linalg.qr(flat)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q.t_()
    tensor.copy_(q.view(tensor.shape))   # (torch's tensor.view_as(q) fails on a non-contiguous kernel)
    tensor.mul_(gain)
    return tensor


@torch.no_grad()
def eye_(tensor: torch.Tensor):
    """Identity matrix (a 2-D weight that passes its input through: W x = x[:out]).

    Example:
        >>> initlab.eye_(torch.empty(5, 5))
    """
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise bad_argument("eye_", "tensor.shape", shape, "a 2-D tensor (out, in)",
                           "for convolution kernels (3-5 dims) use dirac_")
    if is_empty(tensor):
        return tensor
    tensor.copy_(torch.eye(tensor.size(0), tensor.size(1), dtype=tensor.dtype, device=tensor.device))
    return tensor


@torch.no_grad()
def dirac_(tensor: torch.Tensor, groups: int = 1):
    """Dirac delta kernel: a conv that copies input channel d to output channel d in each group.

    Example:
        >>> initlab.dirac_(torch.empty(16, 16, 3, 3))
    """
    where = "dirac_"
    if not isinstance(tensor, torch.Tensor) or tensor.dim() not in (3, 4, 5):
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise bad_argument(where, "tensor.shape", shape, "a 3-, 4- or 5-D convolution kernel (out, in, *k)",
                           "for a 2-D matrix use eye_")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or tensor.size(0) % groups:
        raise bad_argument(where, "groups", groups, f"a positive int dividing out_channels={tensor.size(0)}",
                           "pass the conv layer's `groups`")
    if is_empty(tensor):
        return tensor
    per_group = tensor.size(0) // groups
    n = min(per_group, tensor.size(1))
    center = tuple(s // 2 for s in tensor.shape[2:])
    tensor.zero_()
    d = torch.arange(n, device=tensor.device)
    for g in range(groups):
        tensor[(g * per_group + d, d) + center] = 1
    return tensor


@torch.no_grad()
def sparse_(tensor: torch.Tensor, sparsity: float, std: float = 0.01, *, generator: torch.Generator | None = None):
    """Sparse init (Martens 2010): N(0, std^2), then ceil(sparsity * rows) zeros per column.

    With generator=None the zero positions come from the global RNG, exactly as
    torch.nn.init.sparse_.  With a generator, initlab also draws them from it
    (torch ignores its generator there), so a seeded generator reproduces the
    whole tensor.

    Example:
        >>> initlab.sparse_(torch.empty(100, 50), sparsity=0.9)
    """
    where = "sparse_"
    check_float_tensor(tensor, where)
    if tensor.dim() != 2:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a 2-D tensor (rows, cols)",
                           "reshape the weight to 2-D or use orthogonal_ / kaiming_normal_ for conv kernels")
    check_finite(where, sparsity=sparsity, std=std)
    if not 0 <= sparsity < 1:
        raise bad_argument(where, "sparsity", sparsity, "a fraction in [0, 1)", "pass the fraction of zeros, e.g. 0.9")
    if std < 0:
        raise bad_argument(where, "std", std, "std >= 0", "pass a non-negative standard deviation")
    check_fits(where, tensor, "std", std, MAX_SIGMAS * std)
    if is_empty(tensor) or tensor.is_meta:   # meta: as torch, and no draws from the global RNG
        return tensor
    rows, cols = tensor.shape
    n_zeros = math.ceil(sparsity * rows)
    tensor.normal_(0, std, generator=generator)
    for col in range(cols):
        perm = torch.randperm(rows, generator=generator) if generator is not None else torch.randperm(rows)
        tensor[perm[:n_zeros].to(tensor.device), col] = 0
    return tensor


def hadamard(m: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Sylvester Hadamard matrix of size 2^m with entries +-1 (H H^T = 2^m I)."""
    h = torch.ones(1, 1, dtype=dtype, device=device)
    base = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=dtype, device=device)
    for _ in range(m):
        h = torch.kron(base, h)
    return h


def zero_matrix(out: int, inp: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The ZerO matrix (Zhao et al. 2021, Algorithm 1) for a layer R^inp -> R^out.

    out == inp: I;  out < inp: partial identity [I 0];
    out > inp:  c * (top-left out x inp block of H_m), m = ceil(log2(out)), c = 2^(-(m-1)/2).
    """
    if out <= inp:
        return torch.eye(out, inp, dtype=dtype, device=device)
    m = math.ceil(math.log2(out))
    c = 2.0 ** (-(m - 1) / 2.0)
    return c * hadamard(m, torch.float64, device)[:out, :inp].to(dtype)


@torch.no_grad()
def zero_init_(tensor: torch.Tensor):
    """ZerO: deterministic init from zeros and ones (identity and Hadamard; Zhao et al. 2021).

    Matrix (out, in): see ``zero_matrix``.  Conv kernels (out, in, *k) get the
    matrix at the centre tap and zeros elsewhere, so a square layer starts as the identity.

    Example:
        >>> initlab.zero_init_(torch.empty(256, 256))   # identity
    """
    where = "zero_init_"
    check_float_tensor(tensor, where)
    if tensor.dim() < 2:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a tensor with at least 2 dims",
                           "ZerO sets weights; initialize a 1-D bias with zeros_")
    if is_empty(tensor):
        return tensor
    mat = zero_matrix(tensor.size(0), tensor.size(1), dtype=tensor.dtype, device=tensor.device)
    tensor.zero_()
    center = tuple(s // 2 for s in tensor.shape[2:])
    tensor[(slice(None), slice(None)) + center] = mat
    return tensor
