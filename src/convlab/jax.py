"""The JAX backend: convlab's names and TensorFlow's arguments, computed by JAX's own ops.

Importing this module imports JAX (and neither TensorFlow nor PyTorch). Arguments are
checked by convlab first, so bad input gets the same clear errors as the numpy
reference; then the resolved explicit padding goes to JAX:

* ``conv2d``: ``lax.conv_general_dilated`` (``rhs_dilation`` for the dilations);
* ``conv2d_backprop_input`` and ``conv2d_transpose``: ``lax.conv_transpose(...,
  transpose_kernel=True)``. JAX has no separate backward-data op; this is its public
  form of one (a ``conv_general_dilated`` with ``lhs_dilation`` = the strides);
* ``conv2d_backprop_filter``: ``jax.linear_transpose`` of ``w -> conv_general_dilated(x,
  w)``;
* ``autodiff``: ``jax.vjp`` of ``conv_general_dilated``, ``out_backprop`` as the
  cotangent;
* ``grad_input_via_conv2d`` and ``grad_filter_via_conv2d``: :mod:`convlab.via_conv2d`'s
  identities on :data:`JAX` (``conv_general_dilated`` VALID, ``jnp.pad``, ...).

JAX has no public backward-weight op. ``conv2d_backprop_filter`` transposes the linear
map ``w -> conv2d(x, w)`` with ``jax.linear_transpose``, which applies JAX's transpose
rule for the convolution: the same rule its autodiff uses (a ``conv_general_dilated``
with the batch and feature dimensions swapped, stride and dilation trading places). It
differs from ``autodiff`` in that nothing is differentiated: no forward pass is run or
linearised, and only ``d_w`` is built.

Traps this module steps around, worth knowing when calling JAX directly:

* ``lax.conv_general_dilated`` defaults to NCHW/OIHW; ``lax.conv_transpose`` to
  NHWC/HWIO. Both get ``dimension_numbers=(data_format, "HWIO", data_format)`` here.
* ``lax.conv_transpose`` neither flips the kernel nor swaps its in/out channels unless
  ``transpose_kernel=True``; without it, it is not the gradient of the forward conv.
* With ``use_consistent_padding=False`` (the default, kept in JAX 0.10.2) an explicit
  ``padding`` of ``conv_transpose`` is the *transposed* conv's own padding, not the
  forward conv's: here ``(K_eff - 1 - p_before, K_eff - 1 - p_after + r)``, where ``r``
  is the rows of the padded input no window reached, so the result has TF's
  ``input_sizes`` / ``output_shape`` (a negative amount crops). ``use_consistent_padding
  =True`` reads the forward padding, but gives ``r`` fewer rows; its ``"SAME"`` and
  ``"VALID"`` give ``in * s`` and ``in * s + max(k - s, 0)`` rows, not TF's sizes.
* float64: JAX silently computes float64 input in float32 unless x64 is enabled.
  convlab does not switch x64 on globally: each call with float64 arguments runs inside
  ``jax.enable_x64(True)``, a scoped context, so float64 is computed in float64 and the
  result is a float64 ``jax.Array``. To compute further with it in JAX, enable x64
  yourself (``jax.config.update("jax_enable_x64", True)``).

Precision policy: float32 means float32. On GPUs JAX's default precision for a
convolution may use TensorFloat-32 (or bfloat16 passes); every convolution here gets
``precision=lax.Precision.HIGHEST``. ``set_tf32(True)`` switches to JAX's default
precision (``precision=None``) to trade accuracy for speed.

Inputs are numpy arrays (or array-likes) or ``jax.Array``; float16, bfloat16 (which JAX
has and numpy does not, so convlab's checks see it as float32 for its sizes), float32 and
float64, the same dtype throughout. ``input_sizes`` / ``filter_sizes`` / ``output_shape``
may also be an integer ``jax.Array``. Results are ``jax.Array`` in the input dtype,
committed to the device used: ``device="auto"`` uses a GPU when JAX sees one, ``"cpu"``
and ``"gpu"`` force (``"gpu"`` without one raises :class:`DeviceUnavailableError`), and
arrays on another device are moved. ``np.asarray(result)`` works on any device (JAX
copies to the host); :func:`as_numpy` does the same. Where an argument has no elements
the result has TensorFlow's shape and is zeros, as in convlab's numpy reference.

Each function runs one ``jax.jit`` program, compiled the first time a convolution (its
sizes, strides, padding, dilations, dtype and precision) is seen and cached after: the
first call takes a tenth of a second or more, later ones milliseconds. The functions can
also be called inside ``jax.jit``: JAX's shapes are known when it traces, so convlab
checks them then.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from convlab import _checks, reference, via_conv2d
from convlab.reference import IntOrInts, Padding

__all__ = [
    "JAX",
    "DeviceUnavailableError",
    "JaxOps",
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
    "transposed_padding",
]

BFLOAT16 = np.dtype(jnp.bfloat16)
_FLOAT64 = np.dtype(np.float64)
_ACCEPTED = "float16, float32 or float64 values"


DeviceUnavailableError = _checks.DeviceUnavailableError


_tf32 = {"allowed": False}


def set_tf32(enabled: bool) -> None:
    """Allow (``True``) or forbid (``False``, convlab's default) reduced GPU precision.

    ``False`` passes ``precision=lax.Precision.HIGHEST`` to every convolution; ``True``
    passes ``None``, JAX's default, which may use TensorFloat-32 on a GPU.
    """
    _tf32["allowed"] = bool(enabled)


def tf32_enabled() -> bool:
    """Return whether float32 GPU convolutions may run at JAX's default precision."""
    return bool(_tf32["allowed"])


def _precision() -> lax.Precision | None:
    return None if _tf32["allowed"] else lax.Precision.HIGHEST


def _gpus() -> list[Any]:
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend at all: "Unknown backend: 'gpu' requested"
        return []


def gpu_available() -> bool:
    """Return whether JAX sees a GPU."""
    return bool(_gpus())


def resolve_device(device: str = "auto") -> str:
    """Return ``"cpu"`` or ``"gpu"`` for ``device="auto" | "cpu" | "gpu"``."""
    return _checks.device(
        device, gpu_available,
        "device='gpu' but JAX sees no GPU (jax.devices('gpu') finds none); use "
        "device='cpu' or 'auto', or install a CUDA build of JAX on a machine with an "
        "NVIDIA GPU",
    )


def as_numpy(value: Any) -> np.ndarray:
    """Return an array's values as a numpy array (copied to the host)."""
    return np.asarray(jax.device_get(value))


# --- arguments ---------------------------------------------------------------------------


def _meta(value: Any, name: str) -> tuple[Any, tuple[int, ...], np.dtype]:
    """Return ``(value, shape, numpy dtype)`` without copying a jax.Array off its device."""
    if isinstance(value, jax.Array):
        return value, tuple(int(v) for v in value.shape), np.dtype(value.dtype)
    arr = reference._array(value, name)
    return arr, arr.shape, arr.dtype


def _sizes(value: Any, name: str) -> Any:
    """Sizes as convlab's checks read them: an integer jax.Array as numpy."""
    if not isinstance(value, jax.Array):
        return value
    try:
        return np.asarray(value)
    except jax.errors.JAXTypeError:  # a traced value, known only when the program runs
        raise TypeError(
            f"{name} must be known when JAX traces the function: 4 ints (a list, a tuple, "
            f"a numpy array or a concrete jax.Array), not a traced value, got {value!r}"
        ) from None


def _dtypes(*named: tuple[str, np.dtype]) -> tuple[list[np.dtype], np.dtype | None]:
    """The dtypes to show convlab's checks, and bfloat16 if that is what was given.

    convlab's checks know float16, float32 and float64. bfloat16 arguments are shown to
    them as float32 (a float dtype of the same role), after checking here that every
    float argument is bfloat16, which the checks would otherwise do.
    """
    dtypes = [d for _, d in named]
    if BFLOAT16 not in dtypes:
        return dtypes, None
    floats = [(n, d) for n, d in named if d == BFLOAT16 or d in _checks.FLOAT_DTYPES]
    for (a, da), (b, db) in itertools.pairwise(floats):
        if da != db:
            raise TypeError(
                f"{a} and {b} must have the same dtype, got {da} and {db}; convert one, "
                f"e.g. {b}.astype({a}.dtype)"
            )
    return [np.dtype(np.float32) if d == BFLOAT16 else d for d in dtypes], BFLOAT16


@contextlib.contextmanager
def _checking() -> Iterator[None]:
    """Name bfloat16 among the accepted dtypes in convlab's dtype errors."""
    try:
        yield
    except TypeError as err:
        text = str(err)
        if _ACCEPTED not in text:
            raise
        raise TypeError(text.replace(_ACCEPTED, "float16, bfloat16, float32 or float64 "
                                                 "values")) from None


def _dtype(conv: _checks.Conv, bf16: np.dtype | None) -> np.dtype:
    return bf16 if bf16 is not None else conv.dtype


@contextlib.contextmanager
def _on(device: str, dtype: np.dtype) -> Iterator[Any]:
    """Run the body on ``device``'s first JAX device, float64 in float64."""
    dev = _gpus()[0] if resolve_device(device) == "gpu" else jax.devices("cpu")[0]
    with contextlib.ExitStack() as stack:
        if dtype == _FLOAT64:
            stack.enter_context(jax.enable_x64(True))
        stack.enter_context(jax.default_device(dev))
        yield dev


def _put(value: Any, dev: Any) -> Any:
    return jax.device_put(value, dev)


def _zeros(shape: tuple[int, ...], dtype: np.dtype, dev: Any) -> Any:
    return jax.device_put(jnp.zeros(shape, dtype), dev)


def _dn(conv: _checks.Conv) -> tuple[str, str, str]:
    return (conv.data_format, "HWIO", conv.data_format)


def _in_layout(nhwc: tuple[int, int, int, int], conv: _checks.Conv) -> tuple[int, ...]:
    return _checks.from_nhwc(nhwc, conv.data_format)


def _forward(conv: _checks.Conv, x: Any, w: Any) -> Any:
    """``lax.conv_general_dilated`` with the resolved explicit padding."""
    return lax.conv_general_dilated(
        x, w, window_strides=conv.strides, padding=list(conv.pads),
        rhs_dilation=conv.dilations, dimension_numbers=_dn(conv), precision=_precision(),
    )


def transposed_padding(conv: _checks.Conv) -> list[tuple[int, int]]:
    """``lax.conv_transpose``'s padding that gives ``d_x`` of TF's input size.

    Per axis ``(K_eff - 1 - p_before, K_eff - 1 - p_after + r)``, ``r`` the
    rows of the padded input after the last window; a negative amount crops.

    Examples
    --------
    >>> from convlab import conv_geometry
    >>> transposed_padding(conv_geometry((1, 8, 8, 3), (3, 3, 3, 4), 2, "SAME"))
    [(2, 1), (2, 1)]
    """
    return [(ax.k_eff - 1 - ax.pad_before,
             ax.k_eff - 1 - ax.pad_after + ax.unreached)
            for ax in (conv.h, conv.w)]


# Each computation is compiled once per checked convolution (a frozen, hashable Conv):
# one XLA program instead of one per primitive run eagerly. The precision is a static
# argument too, so that set_tf32 recompiles; the bodies read it from _precision().


def _compiled(fn: Any) -> Any:
    return jax.jit(fn, static_argnums=(0, 1))


@_compiled
def _conv2d_op(conv: _checks.Conv, precision: Any, x: Any, w: Any) -> Any:
    return _forward(conv, x, w)


@_compiled
def _backprop_input_op(conv: _checks.Conv, precision: Any, dy: Any,
                       w: Any) -> Any:
    return lax.conv_transpose(
        dy, w, strides=conv.strides, padding=transposed_padding(conv),
        rhs_dilation=conv.dilations, dimension_numbers=_dn(conv),
        transpose_kernel=True, precision=_precision(),
    )


@_compiled
def _backprop_filter_op(conv: _checks.Conv, precision: Any, x: Any, dy: Any) -> Any:
    transpose = jax.linear_transpose(
        lambda w: _forward(conv, x, w), jax.ShapeDtypeStruct(conv.filter_shape, dy.dtype))
    (d_w,) = transpose(dy)
    return d_w


@_compiled
def _autodiff_op(conv: _checks.Conv, precision: Any, x: Any, w: Any,
                 dy: Any) -> tuple[Any, Any]:
    _, vjp = jax.vjp(lambda x, w: _forward(conv, x, w), x, w)
    d_x, d_w = vjp(dy)
    return d_x, d_w


@_compiled
def _via_input_op(conv: _checks.Conv, precision: Any, w: Any, dy: Any) -> Any:
    d_x = via_conv2d.grad_input(conv, w, _to_nhwc(dy, conv.data_format), JAX)
    return _from_nhwc(d_x, conv.data_format)


@_compiled
def _via_filter_op(conv: _checks.Conv, precision: Any, x: Any, dy: Any) -> Any:
    fmt = conv.data_format
    return via_conv2d.grad_filter(conv, _to_nhwc(x, fmt), _to_nhwc(dy, fmt), JAX)


# --- the four functions and autodiff -------------------------------------------------------


def conv2d(
    input: Any,
    filters: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``tf.nn.conv2d`` by ``lax.conv_general_dilated``. See :func:`convlab.conv2d`.

    Parameters
    ----------
    input : array, shape (N, H, W, C_in), or (N, C_in, H, W) for NCHW
    filters : array, shape (KH, KW, C_in, C_out)
    strides, padding, data_format, dilations
        As in ``tf.nn.conv2d``.
    device : {"auto", "cpu", "gpu"}

    Returns
    -------
    jax.Array, shape (N, OH, OW, C_out), or (N, C_out, OH, OW) for NCHW
    """
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    (xd, wd), bf16 = _dtypes(("input", xd), ("filters", wd))
    with _checking():
        conv = _checks.forward(xs, xd, ws, wd, strides, padding, data_format, dilations)
    dtype = _dtype(conv, bf16)
    with _on(device, dtype) as dev:
        out = _in_layout(conv.output_shape, conv)
        if 0 in out or 0 in (*xs, *ws):
            return _zeros(out, dtype, dev)
        return _conv2d_op(conv, _precision(), _put(x, dev), _put(w, dev))


def conv2d_backprop_input(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``d_x`` by ``lax.conv_transpose(..., transpose_kernel=True)``.

    See :func:`convlab.conv2d_backprop_input`; the padding given to JAX is
    :func:`transposed_padding`.

    Returns
    -------
    jax.Array, shape ``input_sizes``
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    (dd, wd), bf16 = _dtypes(("out_backprop", dd), ("filters", wd))
    sizes = _sizes(input_sizes, "input_sizes")
    with _checking():
        conv = _checks.backprop_input(sizes, ws, wd, ds, dd, strides, padding, data_format,
                                      dilations)
    return _backprop_input(conv, _dtype(conv, bf16), w, ws, dy, ds, device)


def _backprop_input(conv: _checks.Conv, dtype: np.dtype, w: Any, ws: Any, dy: Any, ds: Any,
                    device: str) -> Any:
    with _on(device, dtype) as dev:
        shape = _in_layout(conv.input_shape, conv)
        if 0 in (*shape, *ws, *ds):
            return _zeros(shape, dtype, dev)
        return _backprop_input_op(conv, _precision(), _put(dy, dev), _put(w, dev))


def conv2d_backprop_filter(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``d_w`` by ``jax.linear_transpose`` of the forward conv in ``w``.

    See :func:`convlab.conv2d_backprop_filter` and the module docstring.

    Returns
    -------
    jax.Array, shape ``filter_sizes``
    """
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    (xd, dd), bf16 = _dtypes(("input", xd), ("out_backprop", dd))
    sizes = _sizes(filter_sizes, "filter_sizes")
    with _checking():
        conv = _checks.backprop_filter(xs, xd, sizes, ds, dd, strides, padding, data_format,
                                       dilations)
    dtype = _dtype(conv, bf16)
    with _on(device, dtype) as dev:
        if 0 in (*conv.filter_shape, *xs, *ds):
            return _zeros(conv.filter_shape, dtype, dev)
        return _backprop_filter_op(conv, _precision(), _put(x, dev), _put(dy, dev))


def conv2d_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: IntOrInts,
    padding: Padding = "SAME",
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``tf.nn.conv2d_transpose`` by ``lax.conv_transpose(..., transpose_kernel=True)``.

    ``filters`` is ``[height, width, output_channels, in_channels]`` as in TensorFlow
    (the forward conv's HWIO filter); rows of ``output_shape`` that no window reaches
    are zeros. See :func:`convlab.conv2d_transpose`.
    """
    dy, ds, dd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    names = {"sizes": "output_shape", "filters": "filters", "dy": "input",
             "layout": "[height, width, output_channels, in_channels]",
             "last_axis": "in_channels"}
    (dd, wd), bf16 = _dtypes(("input", dd), ("filters", wd))
    sizes = _sizes(output_shape, "output_shape")
    with _checking():
        conv = _checks.backprop_input(sizes, ws, wd, ds, dd, strides, padding, data_format,
                                      dilations, names=names)
    return _backprop_input(conv, _dtype(conv, bf16), w, ws, dy, ds, device)


def autodiff(
    input: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tuple[jax.Array, jax.Array]:
    """Return ``(d_x, d_w)`` from ``jax.vjp`` of the forward conv.

    ``out_backprop`` is the cotangent of conv2d's output.
    """
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    (xd, wd, dd), bf16 = _dtypes(("input", xd), ("filters", wd), ("out_backprop", dd))
    with _checking():
        conv = _checks.gradients(xs, xd, ws, wd, ds, dd, strides, padding, data_format,
                                 dilations)
    dtype = _dtype(conv, bf16)
    with _on(device, dtype) as dev:
        if 0 in (*xs, *ws, *ds):
            return _zeros(xs, dtype, dev), _zeros(ws, dtype, dev)
        d_x, d_w = _autodiff_op(conv, _precision(), _put(x, dev), _put(w, dev), _put(dy, dev))
        return d_x, d_w


# --- the identities ------------------------------------------------------------------------


class JaxOps:
    """:class:`convlab.via_conv2d.Ops` on JAX arrays, with ``lax.conv_general_dilated``."""

    def conv2d(self, x: Any, w: Any, strides: tuple[int, int],
               dilations: tuple[int, int]) -> Any:
        return lax.conv_general_dilated(
            x, w, window_strides=strides, padding="VALID", rhs_dilation=dilations,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=_precision(),
        )

    def pad(self, a: Any, pads: list[tuple[int, int]]) -> Any:
        return jnp.pad(a, [tuple(p) for p in pads])

    def transpose(self, a: Any, perm: tuple[int, ...]) -> Any:
        return jnp.transpose(a, perm)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return jnp.reshape(a, shape)


JAX = JaxOps()


def _to_nhwc(a: Any, fmt: str) -> Any:
    return jnp.transpose(a, (0, 2, 3, 1)) if fmt == "NCHW" else a


def _from_nhwc(a: Any, fmt: str) -> Any:
    return jnp.transpose(a, (0, 3, 1, 2)) if fmt == "NCHW" else a


def grad_input_via_conv2d(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``d_x`` from ``lax.conv_general_dilated`` alone (in NHWC).

    See :func:`convlab.grad_input_via_conv2d`.
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    (dd, wd), bf16 = _dtypes(("out_backprop", dd), ("filters", wd))
    sizes = _sizes(input_sizes, "input_sizes")
    with _checking():
        conv = _checks.backprop_input(sizes, ws, wd, ds, dd, strides, padding, data_format,
                                      dilations)
    dtype = _dtype(conv, bf16)
    shape = _in_layout(conv.input_shape, conv)
    empty = 0 in (*shape, *ws, *ds)
    if not empty:
        via_conv2d._require_input_identity(conv)
    with _on(device, dtype) as dev:
        if empty:
            return _zeros(shape, dtype, dev)
        return _via_input_op(conv, _precision(), _put(w, dev), _put(dy, dev))


def grad_filter_via_conv2d(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> jax.Array:
    """``d_w`` from ``lax.conv_general_dilated`` alone (in NHWC).

    See :func:`convlab.grad_filter_via_conv2d`.
    """
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    (xd, dd), bf16 = _dtypes(("input", xd), ("out_backprop", dd))
    sizes = _sizes(filter_sizes, "filter_sizes")
    with _checking():
        conv = _checks.backprop_filter(xs, xd, sizes, ds, dd, strides, padding, data_format,
                                       dilations)
    dtype = _dtype(conv, bf16)
    empty = 0 in (*conv.filter_shape, *xs, *ds)
    if not empty:
        via_conv2d._require_filter_identity(conv)
    with _on(device, dtype) as dev:
        if empty:
            return _zeros(conv.filter_shape, dtype, dev)
        return _via_filter_op(conv, _precision(), _put(x, dev), _put(dy, dev))
