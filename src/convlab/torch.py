"""The PyTorch backend: convlab's names and TensorFlow's arguments, computed by PyTorch.

Importing this module imports PyTorch (not TensorFlow, not JAX). The arguments are
TensorFlow's (NHWC input, HWIO filter, ``data_format="NCHW"`` with the filter still
HWIO, TF's SAME with the extra row at the bottom and column at the right) and are checked
by convlab before PyTorch sees them, so bad input gets the numpy reference's errors.
Inputs are numpy arrays or ``torch.Tensor``; results are ``torch.Tensor`` in the input
dtype, on the device used. ``np.asarray(result)`` works for results on the CPU; a result
on a GPU needs :func:`as_numpy` (a host copy). Results carry no autograd history
(inputs are detached): :func:`autodiff` is the way to gradients. Every function takes
``device="auto" | "cpu" | "gpu"``: ``"auto"`` uses a GPU when ``torch.cuda.is_available()``,
``"gpu"`` without one raises :class:`DeviceUnavailableError`, and tensors on another
device are copied to the one used.

Which PyTorch op computes each function (PyTorch works in NCHW with OIHW filters, so
NHWC/HWIO arguments are permuted in and results permuted back):

* ``conv2d``: ``torch.nn.functional.conv2d``.
* ``conv2d_backprop_input``: ``torch.nn.grad.conv2d_input`` (ATen's
  ``convolution_backward`` for the input).
* ``conv2d_backprop_filter``: ``torch.nn.grad.conv2d_weight``.
* ``conv2d_transpose``: ``torch.nn.functional.conv_transpose2d``; the forward HWIO
  filter permuted to OIHW is exactly its weight.
* ``autodiff``: ``torch.autograd.grad`` of ``F.conv2d``, ``out_backprop`` as
  ``grad_outputs``.
* ``grad_input_via_conv2d`` / ``grad_filter_via_conv2d``: the identities of
  :mod:`convlab.via_conv2d` run on :data:`TORCH`, whose only convolution is ``F.conv2d``.

A caveat on "independent": ``torch.nn.grad`` calls ATen's ``convolution_backward``, the
kernel autograd runs for ``F.conv2d``, so ``conv2d_backprop_input`` and ``autodiff``'s
d_x (likewise ``conv2d_backprop_filter`` and d_w) are one computation reached two ways
(with different padding around it). ``conv_transpose2d`` and the via-conv2d identities
run other kernels.

The traps, and how they are met here:

* PyTorch pads symmetrically only (one int per axis). TF's SAME puts an odd extra row at
  the bottom, and explicit padding may differ on each side, so the symmetric part goes to
  the op and the rest is added with ``F.pad`` (conv2d, conv2d_backprop_filter, autodiff),
  or the gradient is computed for the input padded by the rest and then cropped
  (conv2d_backprop_input, conv2d_transpose).
* ``padding="same"`` in PyTorch is refused for strides > 1; it is never used.
* ``conv_transpose2d``'s ``output_padding`` must stay below ``max(stride, dilation)``.
  Computed on the padded length, the extra rows are those after the last window,
  ``(padded - K_eff) mod stride``, always fewer than the stride; the padding is cropped.
* Torch tensors have no negative-step slices, so the 180-degree turn of the filter in the
  d_x identity is ``torch.flip``.
* An empty argument, or no window that fits, gives zeros of TF's shape without calling
  PyTorch (which refuses a height or width of 0).

Dtypes: float16, float32 and float64, as convlab accepts (PyTorch's bfloat16 is refused
with convlab's dtype error, as numpy has no bfloat16). PyTorch 2.13 has CPU kernels for
float16 convolutions and their gradients, so float16 is computed in float16 on every
device (convlab's float16 tolerance holds for it; the tests check). On a CPU they are
slower than float32's (about 2x for a 32x32x16 batch of 8, measured here).

Precision policy: float32 means float32. PyTorch lets cuDNN compute float32 convolutions
in TensorFloat-32 (``torch.backends.cudnn.allow_tf32`` defaults to True; about 10
mantissa bits) on Ampere-and-newer GPUs. convlab sets it, and
``torch.backends.cuda.matmul.allow_tf32``, to False the first time it runs on a GPU;
``set_tf32(True)`` allows TF32 (both flags True). Both flags are PyTorch's global state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    import torch.nn.grad
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "convlab.torch needs PyTorch: pip install 'convlab[torch]' (or a CPU build of "
        "torch from PyTorch's own package index)"
    ) from err

from convlab import _checks, via_conv2d
from convlab.reference import IntOrInts, Padding

__all__ = [
    "TORCH",
    "DeviceUnavailableError",
    "TorchOps",
    "as_numpy",
    "autodiff",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv2d_transpose",
    "gpu_available",
    "grad_filter_via_conv2d",
    "grad_input_via_conv2d",
    "resolve_device",
    "set_tf32",
    "tf32_enabled",
]


DeviceUnavailableError = _checks.DeviceUnavailableError


_tf32 = {"allowed": False, "applied": False}


def set_tf32(enabled: bool) -> None:
    """Allow (``True``) or forbid (``False``, convlab's default) TF32 for float32 on GPUs.

    Sets ``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32``
    now, on any machine.
    """
    _tf32["allowed"] = bool(enabled)
    torch.backends.cudnn.allow_tf32 = bool(enabled)
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    _tf32["applied"] = True


def tf32_enabled() -> bool:
    """Return whether float32 GPU convolutions may run in TensorFloat-32."""
    return bool(_tf32["allowed"])


def gpu_available() -> bool:
    """Return whether PyTorch sees a GPU (``torch.cuda.is_available()``)."""
    return bool(torch.cuda.is_available())


def resolve_device(device: str = "auto") -> str:
    """Return ``"cpu"`` or ``"gpu"`` for ``device="auto" | "cpu" | "gpu"``."""
    return _checks.device(
        device, gpu_available,
        "device='gpu' but PyTorch sees no GPU (torch.cuda.is_available() is False); "
        "use device='cpu' or 'auto', or install a CUDA build of PyTorch on a machine "
        "with an NVIDIA GPU",
    )


def _device(device: str) -> torch.device:
    name = resolve_device(device)
    if name == "gpu":
        if not _tf32["applied"]:
            set_tf32(_tf32["allowed"])
        return torch.device("cuda")
    return torch.device("cpu")


_DTYPES = {torch.float16: np.dtype(np.float16), torch.float32: np.dtype(np.float32),
           torch.float64: np.dtype(np.float64)}


def _meta(value: Any, name: str) -> tuple[Any, tuple[int, ...], Any]:
    """Return ``(value, shape, dtype)`` for convlab's checks, without copying a tensor.

    A tensor's dtype is given to the checks as numpy's (``int64`` is refused there); one
    numpy has not (``bfloat16``) is refused here, in the checks' words.
    """
    if isinstance(value, torch.Tensor):
        dtype = _DTYPES.get(value.dtype)
        if dtype is None:
            try:
                dtype = torch.empty(0, dtype=value.dtype).numpy().dtype
            except (TypeError, RuntimeError):
                shown = str(value.dtype).removeprefix("torch.")
                raise TypeError(
                    f"{name} must hold float16, float32 or float64 values, got dtype "
                    f"{shown}; convert it first, e.g. {name}.float()"
                ) from None
        return value, tuple(int(v) for v in value.shape), dtype
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise TypeError(
            f"{name} must be an array of floats, got {type(value).__name__}: {err}"
        ) from None
    if arr.dtype.kind == "f" and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, arr.shape, arr.dtype


def _sizes_arg(value: Any) -> Any:
    """``input_sizes`` and the like: a tensor of ints as a list; the checks read the rest."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def _tensor(value: Any, dev: torch.device) -> torch.Tensor:
    """``value`` as a tensor on ``dev``, with no autograd history."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(dev)
    arr = np.ascontiguousarray(value)
    if not arr.flags.writeable:  # torch.from_numpy warns about read-only memory
        arr = arr.copy()
    return torch.from_numpy(arr).to(dev)


def _torch_dtype(conv: _checks.Conv) -> torch.dtype:
    return next(t for t, n in _DTYPES.items() if n == conv.dtype)


def _zeros(shape: tuple[int, ...], conv: _checks.Conv, dev: torch.device) -> torch.Tensor:
    return torch.zeros(shape, dtype=_torch_dtype(conv), device=dev)


def _nchw(a: torch.Tensor, fmt: str) -> torch.Tensor:
    """An input or gradient in ``data_format`` as NCHW, which PyTorch computes in."""
    return a.permute(0, 3, 1, 2) if fmt == "NHWC" else a


def _from_nchw(a: torch.Tensor, fmt: str) -> torch.Tensor:
    """A result in ``data_format``, dense in that order (as a TF tensor is)."""
    return a.permute(0, 2, 3, 1).contiguous() if fmt == "NHWC" else a.contiguous()


def _oihw(w: torch.Tensor) -> torch.Tensor:
    """An HWIO filter as PyTorch's OIHW weight."""
    return w.permute(3, 2, 0, 1)


def _split(conv: _checks.Conv) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The symmetric padding PyTorch's ops take, and the rest per side for ``F.pad``.

    Returns ``((p_h, p_w), (left, right, top, bottom))``: ``p = min(before, after)``.
    """
    (t, b), (le, r) = conv.pads
    ph, pw = min(t, b), min(le, r)
    return (ph, pw), (le - pw, r - pw, t - ph, b - ph)


def _nchw_shape(shape: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    n, h, w, c = shape
    return (n, c, h, w)


def _empty(*arrays: Any) -> bool:
    return any(math.prod(a.shape) == 0 for a in arrays)


def _conv2d_nchw(x: torch.Tensor, w: torch.Tensor, conv: _checks.Conv) -> torch.Tensor:
    """F.conv2d of NCHW ``x`` and HWIO ``w`` with ``conv``'s padding, asymmetric too."""
    sym, rest = _split(conv)
    if any(rest):
        x = F.pad(x, rest)
    # contiguous: PyTorch's CPU slow_conv2d backward refuses a permuted weight's gradient
    return F.conv2d(x, _oihw(w).contiguous(), stride=conv.strides, padding=sym,
                    dilation=conv.dilations)


def conv2d(
    input: Any,
    filters: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """``tf.nn.conv2d`` by ``F.conv2d``. See :func:`convlab.conv2d`.

    Parameters
    ----------
    input : array or torch.Tensor, shape (N, H, W, C_in), or (N, C_in, H, W) for NCHW
    filters : array or torch.Tensor, shape (KH, KW, C_in, C_out)
    strides, padding, data_format, dilations
        As in :func:`convlab.conv2d`.
    device : {"auto", "cpu", "gpu"}

    Returns
    -------
    torch.Tensor, shape (N, OH, OW, C_out), or (N, C_out, OH, OW) for NCHW
    """
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    conv = _checks.forward(xs, xd, ws, wd, strides, padding, data_format, dilations)
    fmt, dev = conv.data_format, _device(device)
    if _empty(x, w) or 0 in conv.output_shape:
        return _zeros(_checks.from_nhwc(conv.output_shape, fmt), conv, dev)
    y = _conv2d_nchw(_nchw(_tensor(x, dev), fmt), _tensor(w, dev), conv)
    return _from_nchw(y, fmt)


def _crop(a: torch.Tensor, conv: _checks.Conv) -> torch.Tensor:
    """Crop the NCHW gradient of the input padded by ``_split``'s rest to the input."""
    _, (le, _, t, _) = _split(conv)
    return a[:, :, t : t + conv.h.size, le : le + conv.w.size]


def _padded_nchw(conv: _checks.Conv) -> tuple[int, int, int, int]:
    """NCHW shape of the input padded by ``_split``'s rest."""
    _, rest = _split(conv)
    n, h, w, c = conv.input_shape
    return (n, c, h + rest[2] + rest[3], w + rest[0] + rest[1])


def conv2d_backprop_input(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """``tf.raw_ops.Conv2DBackpropInput`` by ``torch.nn.grad.conv2d_input``.

    See :func:`convlab.conv2d_backprop_input`. The result has the shape of
    ``input_sizes``.
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    sizes = _sizes_arg(input_sizes)
    conv = _checks.backprop_input(sizes, ws, wd, ds, dd, strides, padding,
                                  data_format, dilations)
    fmt, dev = conv.data_format, _device(device)
    shape = _checks.from_nhwc(conv.input_shape, fmt)
    if _empty(w, dy) or 0 in shape:
        return _zeros(shape, conv, dev)
    sym, _ = _split(conv)
    w, dy = _oihw(_tensor(w, dev)), _nchw(_tensor(dy, dev), fmt)
    dx = torch.nn.grad.conv2d_input(
        _padded_nchw(conv), w, dy,
        stride=conv.strides, padding=sym, dilation=conv.dilations,
    )
    return _from_nchw(_crop(dx, conv), fmt)


def conv2d_backprop_filter(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """``tf.raw_ops.Conv2DBackpropFilter`` by ``torch.nn.grad.conv2d_weight``.

    See :func:`convlab.conv2d_backprop_filter`. The result is HWIO, shape
    ``filter_sizes``.
    """
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_filter(xs, xd, _sizes_arg(filter_sizes), ds, dd, strides,
                                   padding, data_format, dilations)
    fmt, dev = conv.data_format, _device(device)
    if _empty(x, dy) or 0 in conv.filter_shape:
        return _zeros(conv.filter_shape, conv, dev)
    sym, rest = _split(conv)
    xt = _nchw(_tensor(x, dev), fmt)
    if any(rest):
        xt = F.pad(xt, rest)
    kh, kw, c_in, c_out = conv.filter_shape
    dw = torch.nn.grad.conv2d_weight(
        xt, (c_out, c_in, kh, kw), _nchw(_tensor(dy, dev), fmt),
        stride=conv.strides, padding=sym, dilation=conv.dilations,
    )
    return dw.permute(2, 3, 1, 0).contiguous()


def conv2d_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: IntOrInts,
    padding: Padding = "SAME",
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """``tf.nn.conv2d_transpose`` by ``F.conv_transpose2d``.

    See :func:`convlab.conv2d_transpose`. ``filters`` is
    ``[height, width, output_channels, in_channels]``, the forward HWIO filter;
    ``output_padding`` is the rows after the last window, fewer than the stride.
    """
    dy, ds, dd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    names = {"sizes": "output_shape", "filters": "filters", "dy": "input",
             "layout": "[height, width, output_channels, in_channels]", "last_axis": "in_channels"}
    conv = _checks.backprop_input(_sizes_arg(output_shape), ws, wd, ds, dd, strides, padding,
                                  data_format, dilations, names=names)
    fmt, dev = conv.data_format, _device(device)
    shape = _checks.from_nhwc(conv.input_shape, fmt)
    if _empty(w, dy) or 0 in shape:
        return _zeros(shape, conv, dev)
    sym, _ = _split(conv)
    extra = tuple((a.padded - a.k_eff) % a.stride for a in (conv.h, conv.w))
    out = F.conv_transpose2d(
        _nchw(_tensor(dy, dev), fmt), _oihw(_tensor(w, dev)), stride=conv.strides,
        padding=sym, output_padding=extra, dilation=conv.dilations,
    )
    return _from_nchw(_crop(out, conv), fmt)


def autodiff(
    input: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(d_x, d_w)`` of ``F.conv2d`` from ``torch.autograd.grad``.

    ``out_backprop`` is the gradient arriving at conv2d's output (``grad_outputs``).
    Asymmetric padding is an ``F.pad`` in the graph, so its gradient (a crop) is part of
    what autograd computes.
    """
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.gradients(xs, xd, ws, wd, ds, dd, strides, padding, data_format,
                             dilations)
    fmt, dev = conv.data_format, _device(device)
    xt, wt = _tensor(x, dev), _tensor(w, dev)
    if _empty(x, w, dy):
        return torch.zeros_like(xt), torch.zeros_like(wt)
    # autograd works under the caller's torch.no_grad() or inference_mode() too; a tensor
    # made in inference mode can't record a graph, so it is copied first
    with torch.inference_mode(False), torch.enable_grad():
        xt, wt = (t.clone() if t.is_inference() else t for t in (xt, wt))
        xt.requires_grad_(True)
        wt.requires_grad_(True)
        y = _conv2d_nchw(_nchw(xt, fmt), wt, conv)
        d_x, d_w = torch.autograd.grad(y, (xt, wt), grad_outputs=_nchw(_tensor(dy, dev), fmt))
    return d_x.contiguous(), d_w.contiguous()


class TorchOps:
    """:class:`convlab.via_conv2d.Ops` on torch tensors, with ``F.conv2d``."""

    def conv2d(self, x: Any, w: Any, strides: tuple[int, int],
               dilations: tuple[int, int]) -> Any:
        y = F.conv2d(x.permute(0, 3, 1, 2), _oihw(w), stride=strides, dilation=dilations)
        return y.permute(0, 2, 3, 1)

    def pad(self, a: Any, pads: list[tuple[int, int]]) -> Any:
        # F.pad lists the last axis first
        return F.pad(a, [v for pair in reversed(pads) for v in pair])

    def transpose(self, a: Any, perm: tuple[int, ...]) -> Any:
        return a.permute(*perm)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return a.reshape(shape)


TORCH = TorchOps()


class _Turnable:
    """An HWIO filter that ``via_conv2d.rotate180`` can turn: ``w[::-1, ::-1]`` is
    ``torch.flip``, as torch tensors have no negative-step slices."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    def __getitem__(self, key: Any) -> torch.Tensor:
        if key == (slice(None, None, -1), slice(None, None, -1)):
            return torch.flip(self.w, (0, 1))
        return self.w[key]


def _on_nhwc(fmt: str) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                Callable[[torch.Tensor], torch.Tensor]]:
    if fmt == "NCHW":
        return (lambda a: a.permute(0, 2, 3, 1)), (lambda a: a.permute(0, 3, 1, 2).contiguous())
    return (lambda a: a), (lambda a: a.contiguous())


def grad_input_via_conv2d(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """d_x from ``F.conv2d`` alone. See :func:`convlab.grad_input_via_conv2d`."""
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_input(_sizes_arg(input_sizes), ws, wd, ds, dd, strides, padding,
                                  data_format, dilations)
    fmt, dev = conv.data_format, _device(device)
    shape = _checks.from_nhwc(conv.input_shape, fmt)
    if _empty(w, dy) or 0 in shape:
        return _zeros(shape, conv, dev)
    via_conv2d._require_input_identity(conv)
    to_nhwc, from_nhwc = _on_nhwc(fmt)
    dx = via_conv2d.grad_input(conv, _Turnable(_tensor(w, dev)), to_nhwc(_tensor(dy, dev)),
                               TORCH)
    return from_nhwc(dx)


def grad_filter_via_conv2d(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """d_w from ``F.conv2d`` alone. See :func:`convlab.grad_filter_via_conv2d`."""
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_filter(xs, xd, _sizes_arg(filter_sizes), ds, dd, strides,
                                   padding, data_format, dilations)
    fmt, dev = conv.data_format, _device(device)
    if _empty(x, dy) or 0 in conv.filter_shape:
        return _zeros(conv.filter_shape, conv, dev)
    via_conv2d._require_filter_identity(conv)
    to_nhwc, _ = _on_nhwc(fmt)
    dw = via_conv2d.grad_filter(conv, to_nhwc(_tensor(x, dev)), to_nhwc(_tensor(dy, dev)),
                                TORCH)
    return dw.contiguous()


def as_numpy(value: Any) -> np.ndarray:
    """Return a tensor's values as a numpy array (copied to the host)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
