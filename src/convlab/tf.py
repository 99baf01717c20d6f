"""The TensorFlow backend: the same names and arguments as convlab, computed by TensorFlow.

Importing this module imports TensorFlow (seconds). Every function takes
``device="auto" | "cpu" | "gpu"``: ``"auto"`` uses a GPU when TensorFlow sees one, and
``"gpu"`` without one raises :class:`DeviceUnavailableError`. Results are ``tf.Tensor``.

Arguments are checked by convlab before TensorFlow sees them, so bad input gets the
same clear errors as the numpy reference. Where TensorFlow itself cannot compute a case
(on a CPU with TensorFlow's own kernels: the backprop ops, ``conv2d_transpose`` and
``GradientTape`` with dilations > 1, and NCHW; with oneDNN's, fewer: see
:mod:`convlab.kernels`), the call raises :class:`TensorFlowUnsupportedError` naming the
via-conv2d method, which works there because it needs only the forward ``conv2d`` in NHWC.

Inside ``tf.function`` the shapes may be known only in part when the function is traced
(``input_signature=[tf.TensorSpec([None, 28, 28, 1])]``, an unknown rank), and the sizes
may be tensors (``tf.shape(x)``, or a list holding ``tf.shape(x)[0]``). convlab then
checks what is known when tracing and leaves the rest to TensorFlow, which checks it when
the function runs (its errors then come from the call). The via-conv2d methods build
their padding from the sizes, so they need every size but the batch when tracing.

Where an argument has no elements (a batch, height, width or out_channels of 0, or no
window that fits), the results have TensorFlow's shapes and the gradients are zeros, as
the mathematics says, computed without TensorFlow's Eigen ``Conv2DBackpropFilter``, which
returns uninitialised memory there or crashes; where TensorFlow has no kernel for the
settings (on a CPU: dilations > 1, NCHW), convlab refuses as it does for any sizes.

TF32 policy: on Ampere-and-newer NVIDIA GPUs TensorFlow computes float32 convolutions
in TensorFloat-32 by default (10 mantissa bits). convlab turns TF32 off the first time
it runs on a GPU, so float32 means float32 and GPU results agree with the CPU to
float32 tolerance. Call ``set_tf32(True)`` to trade that accuracy for speed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as tf
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "convlab.tf needs TensorFlow: pip install 'convlab[tf]' "
        "(with an NVIDIA GPU: pip install 'tensorflow[and-cuda]')"
    ) from err

try:  # reads a partly known shape from tf.shape(x); without it only wholly known sizes count
    from tensorflow.python.framework.tensor_util import constant_value_as_shape
except ImportError:  # pragma: no cover - depends on TensorFlow's private layout
    constant_value_as_shape = None

from convlab import _checks, geometry, reference, via_conv2d
from convlab.reference import IntOrInts, Padding

__all__ = [
    "DeviceUnavailableError",
    "TensorFlowUnsupportedError",
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


class TensorFlowUnsupportedError(NotImplementedError):
    """TensorFlow has no kernel for this configuration on this device."""


DeviceUnavailableError = _checks.DeviceUnavailableError


_tf32 = {"allowed": False, "applied": False}


def set_tf32(enabled: bool) -> None:
    """Allow (``True``) or forbid (``False``, convlab's default) TF32 for float32 on GPUs."""
    _tf32["allowed"] = bool(enabled)
    tf.config.experimental.enable_tensor_float_32_execution(bool(enabled))
    _tf32["applied"] = True


def tf32_enabled() -> bool:
    """Return whether float32 GPU convolutions may run in TensorFloat-32."""
    return bool(_tf32["allowed"])


def gpu_available() -> bool:
    """Return whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_device(device: str = "auto") -> str:
    """Return ``"cpu"`` or ``"gpu"`` for ``device="auto" | "cpu" | "gpu"``."""
    return _checks.device(
        device, gpu_available,
        "device='gpu' but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') "
        "is empty); use device='cpu' or 'auto', or install 'tensorflow[and-cuda]' on a "
        "machine with an NVIDIA GPU",
    )


def _tf_reason(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*", "", text, flags=re.S)
    text = re.sub(r" for '\{\{node [^']*'", "", text)  # a traced op's whole definition
    return " ".join(text.split()).rstrip(".")


@contextlib.contextmanager
def _on(device: str, what: str, *instead: str) -> Iterator[str]:
    """Run the body on ``device``; turn TensorFlow's kernel errors into a clear one."""
    name = resolve_device(device)
    if name == "gpu" and not _tf32["applied"]:
        set_tf32(_tf32["allowed"])
    try:
        with tf.device("/GPU:0" if name == "gpu" else "/CPU:0"):
            yield name
    except ValueError as err:
        if tf.executing_eagerly():
            raise
        # TensorFlow's shape inference, which may know more of a traced shape than convlab
        raise ValueError(
            f"TensorFlow refuses {what} while the function is traced: {_tf_reason(err)}"
        ) from None
    except tf.errors.OpError as err:
        names = " and ".join(f"convlab.tf.{name}" for name in instead)
        verb = "computes" if len(instead) == 1 else "compute"
        hint = (
            f"; {names} {verb} the same result from the forward conv2d alone and work"
            f"{'s' if len(instead) == 1 else ''} here"
            if instead
            else ""
        )
        raise TensorFlowUnsupportedError(
            f"TensorFlow {tf.__version__} cannot compute {what} for this configuration on "
            f"{name.upper()}: {_tf_reason(err)}{hint}"
        ) from None


def _meta(value: Any, name: str) -> tuple[Any, Any, Any]:
    """Return ``(value, shape, numpy dtype)`` without copying a tensor off its device.

    The shape is a tuple of ints, or the ``tf.TensorShape`` itself where part of it is
    unknown (in a ``tf.function`` being traced).
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        shape = value.shape
        if shape.is_fully_defined():
            return value, tuple(shape.as_list()), value.dtype.as_numpy_dtype
        return value, shape, value.dtype.as_numpy_dtype
    arr = reference._array(value, name)
    return arr, arr.shape, arr.dtype


def _is_tensor(value: Any) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable))


def _partial(value: Any) -> bool:
    """Whether ``value`` is a shape or sizes known only in part while tracing."""
    return isinstance(value, tf.TensorShape) and not value.is_fully_defined()


def _shown(name: str, value: Any) -> str:
    if isinstance(value, tf.TensorShape):
        if value.rank is None:
            return f"{name} of unknown rank"
        value = value.as_list()
    return f"{name} {tuple(value)}"


def _sizes_arg(value: Any, name: str) -> tuple[Any, Any]:
    """Return ``(the sizes convlab checks, the int32 tensor TensorFlow gets, or None)``.

    Sizes known while tracing (a list, an array, an eager tensor, a constant) come back
    as they are, with None: the checks read them. A symbolic tensor such as
    ``tf.shape(x)``, or a list holding one (``[tf.shape(x)[0], 28, 28, 1]``), comes back
    as a ``tf.TensorShape`` of what is known, with the tensor.
    """
    if isinstance(value, tf.TensorShape):
        if value.is_fully_defined():
            return value.as_list(), None
        raise ValueError(
            f"{name} must be known when the function is traced, but it is a TensorShape "
            f"with unknown dimensions, {_shown('', value).strip()}; pass tf.shape(x) "
            "instead, which TensorFlow reads when the function runs"
        )
    if _is_tensor(value):
        if tf.executing_eagerly():
            return value, None  # its values are known: checked as any sizes are
        static = tf.get_static_value(value)
        if static is not None:
            return static, None
        rank = value.shape.rank
        if not value.dtype.is_integer or rank not in (None, 1) or (
                rank == 1 and value.shape[0] not in (None, 4)):
            raise TypeError(
                f"{name} given as a tensor must be a 1-D integer tensor of 4 sizes, such "
                f"as tf.shape(x); got {value!r}"
            )
        known = tf.TensorShape([None] * 4)
        if constant_value_as_shape is not None:
            with contextlib.suppress(TypeError, ValueError):
                read = constant_value_as_shape(value)
                known = read if read.rank == 4 else known
        return known, tf.cast(value, tf.int32)
    if isinstance(value, (list, tuple)) and any(_is_tensor(v) for v in value):
        entries: list[Any] = []
        for v in value:
            if not _is_tensor(v):
                if not _checks._is_int(v):
                    raise TypeError(f"{name} must hold 4 ints; got {value!r}")
                entries.append(int(v))
                continue
            if not v.dtype.is_integer or v.shape.rank != 0:
                raise TypeError(
                    f"{name} must hold 4 ints; an entry given as a tensor must be an integer "
                    f"scalar such as tf.shape(x)[0]; got {v!r}"
                )
            entries.append(_scalar_size(v))
        if all(e is not None for e in entries):
            return entries, None
        tensor = tf.stack([tf.cast(v, tf.int32) for v in value])
        return tf.TensorShape(entries), tensor
    return value, None


def _scalar_size(v: Any) -> int | None:
    """The value of an integer scalar tensor if known while tracing, as ``tf.shape(x)[1]``
    is when ``x``'s height is."""
    static = tf.get_static_value(v)
    if static is not None:
        return int(static)
    op = v.op
    if op.type != "StridedSlice" or constant_value_as_shape is None or any(
            op.get_attr(m) for m in ("begin_mask", "end_mask", "ellipsis_mask",
                                     "new_axis_mask")) or op.get_attr("shrink_axis_mask") != 1:
        return None
    begin = tf.get_static_value(op.inputs[1])
    with contextlib.suppress(TypeError, ValueError):
        dims = constant_value_as_shape(op.inputs[0])
        if begin is not None and dims.rank is not None and -dims.rank <= begin[0] < dims.rank:
            return dims[int(begin[0])]
    return None


def _entries(value: Any) -> list[Any] | None:
    """The 4 entries of a shape or sizes, None for each unknown; None unless there are 4."""
    if isinstance(value, tf.TensorShape):
        value = [None] * 4 if value.rank is None else value.as_list()
    try:
        entries = list(value)
    except TypeError:
        return None
    return entries if len(entries) == 4 else None


_NHWC = {"NHWC": (0, 1, 2, 3), "NCHW": (0, 2, 3, 1)}


def _fill(fmt: Any, strides: Any, padding: Any, dilations: Any, x: Any, w: Any,
          dy: Any = None) -> tuple[Any, Any, Any]:
    """Fill in the dimensions unknown while tracing, so that convlab's checks pass them.

    ``x`` (a shape, or sizes) and ``dy`` are in ``data_format`` order, ``w`` in HWIO order;
    a shape known in part is a ``tf.TensorShape`` (see :func:`_meta`). A batch or channel
    count comes from another argument that knows it; an axis not known in both ``x`` and
    ``w`` gets sizes that fit, and ``dy`` the output length they give. What is known is
    kept, so the checks still catch it; if everything is known, all come back as they were.
    """
    roles = (x, w, dy)
    if not any(_partial(v) for v in roles):
        return roles
    try:
        fmt = _checks.check_data_format(fmt)
    except ValueError:
        return roles  # the checks report data_format before any shape
    perms = (_NHWC[fmt], (0, 1, 2, 3), _NHWC[fmt])
    lists = []
    for value, perm in zip(roles, perms, strict=True):
        e = None if value is None else _entries(value)
        lists.append(None if e is None else [e[i] for i in perm])
    ds = lists[2]
    # only a partly known shape is filled in; given sizes are checked as they are, except
    # that dy's length along an axis that could not be checked follows the others
    open_ = [isinstance(v, tf.TensorShape) for v in roles]

    def at(j: int, i: int) -> Any:
        a = lists[j]
        return None if a is None else a[i]

    def put(j: int, i: int, v: Any) -> None:
        a = lists[j]
        if a is not None and open_[j] and a[i] is None:
            a[i] = v

    def pick(*entries: Any) -> int:
        return next((int(e) for e in entries if _checks._is_int(e)), 1)

    for (j, i), (k, m) in (((0, 0), (2, 0)), ((0, 3), (1, 2)), ((1, 3), (2, 3))):
        count = pick(at(j, i), at(k, m))  # batch, in_channels, out_channels
        put(j, i, count)
        put(k, m, count)
    steps: tuple[int, int] | None
    rates: tuple[int, int] | None
    mode: Any
    try:
        steps = _checks.window(strides, "strides", fmt)
        rates = _checks.window(dilations, "dilations", fmt)
        mode = _checks.padding(padding, fmt)
    except (TypeError, ValueError):
        steps = rates = mode = None  # the checks report them
    limit = getattr(_checks, "LIMIT", 2**31 - 1)
    for axis in (0, 1):
        guessed = at(0, 1 + axis) is None or at(1, axis) is None
        put(1, axis, 1)
        kernel = at(1, axis)
        if at(0, 1 + axis) is None and rates is not None and _checks._is_int(kernel):
            put(0, 1 + axis, min(rates[axis] * (int(kernel) - 1) + 1, limit))
        put(0, 1 + axis, 1)
        if ds is not None and (ds[1 + axis] is None or guessed):
            ds[1 + axis] = 1
            if steps is not None and rates is not None and mode is not None:
                pad = mode if isinstance(mode, str) else mode[axis]
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    ds[1 + axis] = geometry.resolve_axis(
                        at(0, 1 + axis), kernel, steps[axis], pad, rates[axis]).out
    filled = []
    for j, (value, a, perm) in enumerate(zip(roles, lists, perms, strict=True)):
        if a is None:  # no dy, or not 4-D: shown to the checks as it is
            partial = isinstance(value, tf.TensorShape) and value.rank is not None
            filled.append(tuple(value.as_list()) if partial else value)
        elif open_[j] or j == 2:
            filled.append(tuple(a[perm.index(i)] for i in range(4)))
        else:
            filled.append(value)
    return filled[0], filled[1], filled[2]


@contextlib.contextmanager
def _traced(**shapes: Any) -> Iterator[None]:
    """Show the shapes known only in part in an argument error raised while tracing."""
    try:
        yield
    except (TypeError, ValueError) as err:
        partial = [_shown(name, v) for name, v in shapes.items() if _partial(v)]
        if not partial or type(err) not in (TypeError, ValueError):
            raise
        raise type(err)(
            f"{err} [while tracing, with {', '.join(partial)}: None is a dimension known only "
            "when the function runs, which convlab fills in to check the rest and TensorFlow "
            "checks then]"
        ) from None


def _known_but_batch(what: str, name: str, value: Any, batched: bool = True) -> None:
    """Refuse a shape or sizes with an unknown dimension other than the batch."""
    if not _partial(value):
        return
    entries = _entries(value)
    if entries is None or any(e is None for e in entries[1 if batched else 0:]):
        unknown = "" if value.rank is None else ", where None is known only when it runs"
        raise ValueError(
            f"{what} builds its padding from the sizes, so every size but the batch must be "
            f"known when the function is traced; got {_shown(name, value)}{unknown}"
        )


def _elements(value: Any) -> bool | None:
    """Whether an array or tensor has elements; None while that is known only at run time."""
    shape = value.shape
    if isinstance(shape, tf.TensorShape):
        if shape.rank is None:
            return None
        shape = shape.as_list()
    if 0 in shape:
        return False
    return None if None in shape else True


def _unless_empty(operands: Sequence[Any], zeros: Callable[[], Any], compute: Callable[[], Any],
                  empty: bool = False, ask: Callable[[], Any] | None = None) -> Any:
    """Return ``compute()``, or ``zeros()`` where an operand has no elements (or ``empty``).

    A gradient with nothing to sum is zero. TensorFlow's Eigen ``Conv2DBackpropFilter``
    returns uninitialised memory there, or crashes the process, and the via-conv2d
    identities would build no window, so neither is asked. ``ask`` runs the same
    TensorFlow op on one element first, so that convlab refuses where TensorFlow has no
    kernel for the configuration. In a traced function where the sizes are known only
    when it runs, ``tf.cond`` decides then.
    """

    def nothing() -> Any:
        if ask is None:
            return zeros()
        with tf.control_dependencies(tf.nest.flatten(ask())):
            return zeros()

    states = [_elements(a) for a in operands]
    if empty or False in states:
        return nothing()
    unsure = [a for a, state in zip(operands, states, strict=True) if state is None]
    if not unsure:
        return compute()
    return tf.cond(tf.reduce_all([tf.size(a) > 0 for a in unsure]), compute, nothing)


def _one(conv: _checks.Conv) -> tf.Tensor:
    """A one-element tensor of the checked dtype: a 1x1 input, filter or gradient.

    A 1x1 filter on a 1x1 input gives a 1x1 output at any stride and dilation, with
    VALID, SAME or explicit padding of 0; what TensorFlow refuses depends on those
    settings, the layout, the dtype and the device, never on the sizes.
    """
    return tf.ones((1, 1, 1, 1), tf.as_dtype(conv.dtype))


def _tf_padding_kind(padding: Any, conv: _checks.Conv) -> Any:
    """Like :func:`_tf_padding`, with explicit padding of 0 (for a 1x1 stand-in)."""
    mode = _tf_padding(padding, conv)
    return mode if isinstance(mode, str) else [[0, 0]] * 4


# convlab's Python decides from sizes known while tracing (tf.cond decides the rest), so
# AutoGraph has nothing to convert in it, and converting it anyway takes seconds a trace
_as_is = tf.autograph.experimental.do_not_convert


def _fits_when_traced(conv: _checks.Conv, padding: Any, xs: Any, ws: Any) -> None:
    """Refuse, while tracing, a filter longer than the padded input, as TensorFlow does.

    Run eagerly, TensorFlow's conv2d gives 0 rows for it (and convlab with it); inside
    ``tf.function`` its shape inference refuses it wherever both lengths are known.
    """
    if tf.executing_eagerly() or _checks.padding(padding, conv.data_format) == "SAME":
        return
    ex, ew = _entries(xs), _entries(ws)
    for a, (axis, which) in enumerate(((conv.h, "height"), (conv.w, "width"))):
        known = None not in (ex and ex[_NHWC[conv.data_format][1 + a]], ew and ew[a])
        if known and axis.k_eff > axis.padded:
            raise ValueError(
                f"filters does not fit input in a traced function: along the {which} the "
                f"filter spans {axis.k_eff} but the padded input is only {axis.padded} long; "
                "TensorFlow's conv2d gives 0 rows for that when it runs eagerly, but refuses "
                "it inside tf.function (its shape inference)"
            )


def _spatial4(pair: tuple[int, int], fmt: str) -> list[int]:
    return [1, pair[0], pair[1], 1] if fmt == "NHWC" else [1, 1, pair[0], pair[1]]


def _tf_padding(padding: Any, conv: _checks.Conv) -> Any:
    """TF's own padding argument: the string, or explicit pairs in ``data_format`` order."""
    mode = _checks.padding(padding, conv.data_format)
    if isinstance(mode, str):
        return mode
    zero = [0, 0]
    pairs = [list(p) for p in mode]
    return [zero, *pairs, zero] if conv.data_format == "NHWC" else [zero, zero, *pairs]


def _sizes(conv: _checks.Conv) -> list[int]:
    return list(_checks.from_nhwc(conv.input_shape, conv.data_format))


@_as_is
def conv2d(
    input: Any,
    filters: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """``tf.nn.conv2d``, with convlab's argument checks. See :func:`convlab.conv2d`."""
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    fx, fw, _ = _fill(data_format, strides, padding, dilations, xs, ws)
    with _traced(input=xs, filters=ws):
        conv = _checks.forward(fx, xd, fw, wd, strides, padding, data_format, dilations)
    fmt = conv.data_format
    _fits_when_traced(conv, padding, xs, ws)
    with _on(device, "conv2d"):
        return tf.nn.conv2d(
            x, w, strides=_spatial4(conv.strides, fmt), padding=_tf_padding(padding, conv),
            data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
        )


@_as_is
def conv2d_backprop_input(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """``tf.raw_ops.Conv2DBackpropInput``. See :func:`convlab.conv2d_backprop_input`.

    ``input_sizes`` may be a tensor, such as ``tf.shape(x)`` in a ``tf.function``.
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    known, sizes = _sizes_arg(input_sizes, "input_sizes")
    fx, fw, fd = _fill(data_format, strides, padding, dilations, known, ws, ds)
    with _traced(input_sizes=known, filters=ws, out_backprop=ds):
        conv = _checks.backprop_input(fx, fw, wd, fd, dd, strides, padding, data_format,
                                      dilations)
    with _on(device, "conv2d_backprop_input", "grad_input_via_conv2d"):
        return _backprop_input_op(conv, padding, w, dy, sizes)


def _backprop_input_op(conv: _checks.Conv, padding: Any, w: Any, dy: Any,
                       sizes: Any = None) -> tf.Tensor:
    fmt = conv.data_format
    mode = _tf_padding(padding, conv)
    explicit = [] if isinstance(mode, str) else [int(v) for pair in mode for v in pair]
    return tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.constant(_sizes(conv), dtype=tf.int32) if sizes is None else sizes,
        filter=w, out_backprop=dy, strides=_spatial4(conv.strides, fmt),
        padding=mode if explicit == [] else "EXPLICIT", explicit_paddings=explicit,
        data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
    )


@_as_is
def conv2d_backprop_filter(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """``tf.raw_ops.Conv2DBackpropFilter``. See :func:`convlab.conv2d_backprop_filter`.

    ``filter_sizes`` may be a tensor, such as ``tf.shape(w)`` in a ``tf.function``.
    """
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    known, sizes = _sizes_arg(filter_sizes, "filter_sizes")
    fx, fw, fd = _fill(data_format, strides, padding, dilations, xs, known, ds)
    with _traced(input=xs, filter_sizes=known, out_backprop=ds):
        conv = _checks.backprop_filter(fx, xd, fw, fd, dd, strides, padding, data_format,
                                       dilations)
    fmt = conv.data_format
    shape = tf.constant(conv.filter_shape, dtype=tf.int32) if sizes is None else sizes

    def op(x: Any, shape: Any, dy: Any, mode: Any) -> tf.Tensor:
        explicit = [] if isinstance(mode, str) else [int(v) for pair in mode for v in pair]
        return tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=shape, out_backprop=dy, strides=_spatial4(conv.strides, fmt),
            padding=mode if explicit == [] else "EXPLICIT", explicit_paddings=explicit,
            data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
        )

    with _on(device, "conv2d_backprop_filter", "grad_filter_via_conv2d"):
        return _unless_empty(
            [x, dy], lambda: tf.zeros(shape, tf.as_dtype(conv.dtype)),
            lambda: op(x, shape, dy, _tf_padding(padding, conv)),
            ask=lambda: op(_one(conv), [1, 1, 1, 1], _one(conv), _tf_padding_kind(padding, conv)),
        )


@_as_is
def conv2d_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: IntOrInts,
    padding: Padding = "SAME",
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """``tf.nn.conv2d_transpose``. See :func:`convlab.conv2d_transpose`.

    ``output_shape`` may be a tensor, such as ``tf.shape(x)`` in a ``tf.function``.
    """
    dy, ds, dd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    known, sizes = _sizes_arg(output_shape, "output_shape")
    names = {"sizes": "output_shape", "filters": "filters", "dy": "input",
             "layout": "[height, width, output_channels, in_channels]", "last_axis": "in_channels"}
    fx, fw, fd = _fill(data_format, strides, padding, dilations, known, ws, ds)
    with _traced(input=ds, filters=ws, output_shape=known):
        conv = _checks.backprop_input(fx, fw, wd, fd, dd, strides, padding, data_format,
                                      dilations, names=names)
    fmt = conv.data_format
    with _on(device, "conv2d_transpose", "grad_input_via_conv2d"):
        return tf.nn.conv2d_transpose(
            dy, w, output_shape=_sizes(conv) if sizes is None else sizes,
            strides=_spatial4(conv.strides, fmt), padding=_tf_padding(padding, conv),
            data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
        )


@_as_is
def autodiff(
    input: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tuple[tf.Tensor, tf.Tensor]:
    """Return ``(d_x, d_w)`` of ``tf.nn.conv2d`` from ``tf.GradientTape``.

    ``out_backprop`` is the gradient arriving at conv2d's output (the tape's
    ``output_gradients``).
    """
    x, xs, xd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    fx, fw, fd = _fill(data_format, strides, padding, dilations, xs, ws, ds)
    with _traced(input=xs, filters=ws, out_backprop=ds):
        conv = _checks.gradients(fx, xd, fw, wd, fd, dd, strides, padding, data_format,
                                 dilations)
    fmt = conv.data_format
    _fits_when_traced(conv, padding, xs, ws)  # the tape runs conv2d
    with _on(device, "the gradient of conv2d (GradientTape)", "grad_input_via_conv2d",
             "grad_filter_via_conv2d"):
        x, w, dy = (tf.convert_to_tensor(v) for v in (x, w, dy))

        def tape_gradients(x: Any, w: Any, dy: Any, mode: Any) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = tf.nn.conv2d(
                    x, w, strides=_spatial4(conv.strides, fmt), padding=mode,
                    data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
                )
            d_x, d_w = tape.gradient(y, [x, w], output_gradients=dy)
            return d_x, d_w

        d_x, d_w = _unless_empty(
            [x, w, dy], lambda: (tf.zeros_like(x), tf.zeros_like(w)),
            lambda: tape_gradients(x, w, dy, _tf_padding(padding, conv)),
            ask=lambda: tape_gradients(_one(conv), _one(conv), _one(conv),
                                       _tf_padding_kind(padding, conv)),
        )
        return d_x, d_w


class TensorFlowOps:
    """:class:`convlab.via_conv2d.Ops` on TensorFlow tensors, with ``tf.nn.conv2d``."""

    def conv2d(self, x: Any, w: Any, strides: tuple[int, int],
               dilations: tuple[int, int]) -> Any:
        return tf.nn.conv2d(x, w, strides=[1, *strides, 1], padding="VALID",
                            dilations=[1, *dilations, 1])

    def pad(self, a: Any, pads: list[tuple[int, int]]) -> Any:
        return tf.pad(a, [list(p) for p in pads])

    def transpose(self, a: Any, perm: tuple[int, ...]) -> Any:
        return tf.transpose(a, perm)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return tf.reshape(a, shape)


TENSORFLOW = TensorFlowOps()


def _to_nhwc(a: Any, fmt: str) -> Any:
    return tf.transpose(a, (0, 2, 3, 1)) if fmt == "NCHW" else a


def _from_nhwc(a: Any, fmt: str) -> Any:
    return tf.transpose(a, (0, 3, 1, 2)) if fmt == "NCHW" else a


@_as_is
def grad_input_via_conv2d(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """d_x from ``tf.nn.conv2d`` alone. See :func:`convlab.grad_input_via_conv2d`.

    Runs in NHWC whatever ``data_format`` is, so it works on CPU with NCHW and with
    dilations, where TensorFlow's own backprop ops refuse. In a ``tf.function`` every
    size but the batch must be known when it is traced.
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    known, _ = _sizes_arg(input_sizes, "input_sizes")
    what = "grad_input_via_conv2d"
    _known_but_batch(what, "input_sizes", known)
    _known_but_batch(what, "filters", ws, batched=False)
    _known_but_batch(what, "out_backprop", ds)
    fx, fw, fd = _fill(data_format, strides, padding, dilations, known, ws, ds)
    with _traced(input_sizes=known, filters=ws, out_backprop=ds):
        conv = _checks.backprop_input(fx, fw, wd, fd, dd, strides, padding, data_format,
                                      dilations)
    fmt = conv.data_format
    # the batch of d_x: as input_sizes says, and when only out_backprop's is known (at run
    # time), that one
    batch = None if isinstance(known, tf.TensorShape) and known[0] is None else (
        conv.input_shape[0])
    empty = 0 in conv.input_shape[1:] or batch == 0
    if not (empty or False in (_elements(w), _elements(dy))):
        via_conv2d._require_input_identity(conv)  # fail fast, as the numpy method does
    with _on(device, what):
        w, dy = tf.convert_to_tensor(w), _to_nhwc(tf.convert_to_tensor(dy), fmt)

        def identity() -> tf.Tensor:
            if dy.shape[0] is not None:
                return via_conv2d.grad_input(conv, w, dy, TENSORFLOW)
            # insert_zeros needs every size: one example at a time, vectorised into a batch
            return tf.vectorized_map(
                lambda one: via_conv2d.grad_input(conv, w, one[None], TENSORFLOW)[0], dy)

        def zeros() -> tf.Tensor:
            n = tf.shape(dy)[0] if dy.shape[0] is None else conv.input_shape[0]
            return tf.zeros(tf.stack([n, *conv.input_shape[1:]]), tf.as_dtype(conv.dtype))

        dx = _unless_empty([w, dy], zeros, identity, empty=empty)
        if dy.shape[0] is None:  # and input_sizes' batch, where known, holds at run time
            dx = tf.ensure_shape(dx, (batch, *conv.input_shape[1:]))
        return _from_nhwc(dx, fmt)


@_as_is
def grad_filter_via_conv2d(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
    device: str = "auto",
) -> tf.Tensor:
    """d_w from ``tf.nn.conv2d`` alone. See :func:`convlab.grad_filter_via_conv2d`.

    In a ``tf.function`` every size but the batch must be known when it is traced.
    """
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    known, _ = _sizes_arg(filter_sizes, "filter_sizes")
    what = "grad_filter_via_conv2d"
    _known_but_batch(what, "input", xs)
    _known_but_batch(what, "filter_sizes", known, batched=False)
    _known_but_batch(what, "out_backprop", ds)
    fx, fw, fd = _fill(data_format, strides, padding, dilations, xs, known, ds)
    with _traced(input=xs, filter_sizes=known, out_backprop=ds):
        conv = _checks.backprop_filter(fx, xd, fw, fd, dd, strides, padding, data_format,
                                       dilations)
    if not (0 in conv.filter_shape or False in (_elements(x), _elements(dy))):
        via_conv2d._require_filter_identity(conv)  # fail fast, as the numpy method does
    with _on(device, what):
        x = _to_nhwc(tf.convert_to_tensor(x), conv.data_format)
        dy = _to_nhwc(tf.convert_to_tensor(dy), conv.data_format)
        return _unless_empty(
            [x, dy], lambda: tf.zeros(conv.filter_shape, tf.as_dtype(conv.dtype)),
            lambda: via_conv2d.grad_filter(conv, x, dy, TENSORFLOW),
            empty=0 in conv.filter_shape,
        )


def as_numpy(value: Any) -> np.ndarray:
    """Return a tensor's values as a numpy array (copied to the host)."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
