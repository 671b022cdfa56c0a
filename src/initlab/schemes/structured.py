"""Structured schemes: orthogonal, identity (eye, dirac), sparse and ZerO.

These build a matrix with a property (orthogonality, identity, sparsity)
rather than drawing i.i.d. values.
"""
from __future__ import annotations

import math

import torch

from ..errors import InitIndexError, InitNotImplementedError, bad_argument, check_finite, like_torch
from .fans import MAX_SIGMAS, check_fits, check_float_tensor, is_empty

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _check_orthogonal(tensor, gain, where="orthogonal_") -> None:
    check_float_tensor(tensor, where)
    check_finite(where, gain=gain)
    check_fits(where, tensor, "gain", gain, abs(gain))   # entries of gain * (unit vector)
    if tensor.dim() < 2:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a tensor with at least 2 dims",
                           "orthogonal_ needs a matrix; for a 1-D bias use zeros_")


def orthogonal_(tensor: torch.Tensor, gain: float = 1, generator: torch.Generator | None = None, *,
                strict: bool = False):
    """(Semi-)orthogonal matrix times `gain` (Saxe et al. 2013), flattened to (rows, prod(rest)).

    W W^T = gain^2 I when rows <= cols, W^T W = gain^2 I otherwise.  Q is the QR
    factor of a Gaussian matrix with signs fixed by diag(R) so it is Haar
    distributed (Mezzadri 2007).  torch.nn.init.orthogonal_'s draws, bit for bit; two
    things torch refuses work here: float16/bfloat16 tensors (torch has no half-precision
    QR; initlab builds Q in float32) and non-contiguous kernels that cannot be viewed as
    a matrix.  strict=True: a real float tensor, a finite gain whose entries fit the dtype.

    Example:
        >>> initlab.orthogonal_(torch.empty(64, 64), gain=2 ** 0.5)
    """
    where = "orthogonal_"
    check = lambda: _check_orthogonal(tensor, gain)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        if tensor.ndimension() < 2:
            raise ValueError("Only tensors with 2 or more dimensions are supported")
        if tensor.numel() == 0 or tensor.is_meta:   # nothing to draw (as torch)
            return tensor
        rows = tensor.size(0)
        cols = tensor.numel() // rows
        work = tensor.dtype
        if tensor.dtype in _LOW_PRECISION:   # initlab's extension (torch: no half-precision QR)
            work = torch.float32
            try:   # what tensor.mul_(gain) must do at the end: take gain, and stay finite
                fits = bool(torch.isfinite(torch.ones((), dtype=tensor.dtype).mul_(gain)))
            except Exception:   # noqa: BLE001 - not a real number: torch would fail at its QR all the same
                fits = False
            if not fits:   # gain * Q would not fit: refuse with torch's type, as torch
                tensor.new_empty((rows, cols)).normal_(0, 1, generator=generator)   # does, after its draw
                raise bad_argument(where, "gain", gain, f"a gain whose entries fit {tensor.dtype} (|gain| <= "
                                   f"{torch.finfo(tensor.dtype).max:g}); torch has no {tensor.dtype} QR at all",
                                   "use a smaller gain or a float32 tensor", cls=InitNotImplementedError)
        flat = torch.empty((rows, cols), dtype=work, device=tensor.device).normal_(0, 1, generator=generator)
        if rows < cols:
            flat.t_()
        q, r = torch.linalg.qr(flat)
        q *= torch.diag(r, 0).sign()
        if rows < cols:
            q.t_()
        with torch.no_grad():
            try:
                tensor.view_as(q).copy_(q)   # torch's way
            except RuntimeError as exc:      # a kernel that cannot be viewed as a matrix: initlab fills it
                try:                         # (if gain is unusable, fail as torch does: here, untouched)
                    torch.ones((), dtype=tensor.dtype).mul_(gain)
                except Exception:   # noqa: BLE001
                    raise exc from None
                tensor.copy_(q.view(tensor.shape))
            tensor.mul_(gain)
        return tensor


def eye_(tensor: torch.Tensor, *, strict: bool = False):
    """Identity matrix (a 2-D weight that passes its input through: W x = x[:out]).

    torch.nn.init.eye_ exactly (any dtype; ValueError -- InitError -- unless 2-D).

    Example:
        >>> initlab.eye_(torch.empty(5, 5))
    """
    def check():
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise bad_argument("eye_", "tensor.shape", shape, "a 2-D tensor (out, in)",
                               "for convolution kernels (3-5 dims) use dirac_")
    if strict:
        check()
    with like_torch("eye_", check):
        if tensor.ndimension() != 2:
            raise ValueError("Only tensors with 2 dimensions are supported")
        with torch.no_grad():
            torch.eye(*tensor.shape, out=tensor, requires_grad=tensor.requires_grad)
        return tensor


def _check_dirac(tensor, groups, where="dirac_") -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.dim() not in (3, 4, 5):
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise bad_argument(where, "tensor.shape", shape, "a 3-, 4- or 5-D convolution kernel (out, in, *k)",
                           "for a 2-D matrix use eye_")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or tensor.size(0) % groups:
        raise bad_argument(where, "groups", groups, f"a positive int dividing out_channels={tensor.size(0)}",
                           "pass the conv layer's `groups`")
    if 0 in tensor.shape[2:] and min(tensor.size(0) // groups, tensor.size(1)) > 0:
        raise bad_argument(where, "tensor.shape", tuple(tensor.shape), "a kernel with a centre tap (no 0 in "
                           "the kernel size)", "a kernel with a zero-size dim has nothing to set: skip it",
                           cls=InitIndexError)


def dirac_(tensor: torch.Tensor, groups: int = 1, *, strict: bool = False):
    """Dirac delta kernel: a conv that copies input channel d to output channel d in each group.

    torch.nn.init.dirac_ exactly (groups is whatever torch takes: a NumPy integer too).
    strict=True: a positive int dividing out_channels.

    Example:
        >>> initlab.dirac_(torch.empty(16, 16, 3, 3))
    """
    check = lambda: _check_dirac(tensor, groups)  # noqa: E731
    if strict:
        check()
    with like_torch("dirac_", check):
        if tensor.ndimension() not in (3, 4, 5):
            raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
        sizes = tensor.size()
        if sizes[0] % groups != 0:
            raise ValueError("dim 0 must be divisible by groups")
        if tensor.is_meta:
            return tensor
        per_group = sizes[0] // groups
        n = min(per_group, sizes[1])
        center = tuple(s // 2 for s in sizes[2:])
        with torch.no_grad():
            tensor.zero_()
            for g in range(groups):
                d = list(range(n))   # torch's loop bounds, so odd `groups` fail where torch's do
                if d:
                    d = torch.tensor(d, device=tensor.device)
                    tensor[(g * per_group + d, d) + center] = 1
        return tensor


def _check_sparse(tensor, sparsity, std, where="sparse_") -> None:
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


def sparse_(tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: torch.Generator | None = None,
            *, strict: bool = False):
    """Sparse init (Martens 2010): N(0, std^2), then ceil(sparsity * rows) zeros per column.

    As torch.nn.init.sparse_, the zero positions come from the global RNG even when a
    generator is given (sparsity=1.0 zeroes everything).  strict=True: a float 2-D
    tensor, 0 <= sparsity < 1, finite std >= 0, and the generator (when given) draws
    the zero positions too, so a seeded generator reproduces the whole tensor.

    Example:
        >>> initlab.sparse_(torch.empty(100, 50), sparsity=0.9)
    """
    where = "sparse_"
    check = lambda: _check_sparse(tensor, sparsity, std)  # noqa: E731
    if strict:
        check()
    with like_torch(where, check):
        if tensor.ndimension() != 2:
            raise ValueError("Only tensors with 2 dimensions are supported")
        if tensor.is_meta:
            return tensor
        rows, cols = tensor.shape
        n_zeros = math.ceil(sparsity * rows)
        perm_gen = generator if strict else None
        with torch.no_grad():
            tensor.normal_(0, std, generator=generator)
            for col in range(cols):
                perm = torch.randperm(rows, generator=perm_gen) if perm_gen is not None else torch.randperm(rows)
                tensor[perm[:n_zeros], col] = 0
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
