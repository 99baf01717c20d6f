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

TF32 policy: on Ampere-and-newer NVIDIA GPUs TensorFlow computes float32 convolutions
in TensorFloat-32 by default (10 mantissa bits). convlab turns TF32 off the first time
it runs on a GPU, so float32 means float32 and GPU results agree with the CPU to
float32 tolerance. Call ``set_tf32(True)`` to trade that accuracy for speed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
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

from convlab import _checks, reference, via_conv2d
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


class DeviceUnavailableError(RuntimeError):
    """``device="gpu"`` was asked for but TensorFlow sees no GPU."""


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
    if not isinstance(device, str) or device.lower() not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    device = device.lower()
    if device == "auto":
        return "gpu" if gpu_available() else "cpu"
    if device == "gpu" and not gpu_available():
        raise DeviceUnavailableError(
            "device='gpu' but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') "
            "is empty); use device='cpu' or 'auto', or install 'tensorflow[and-cuda]' on a "
            "machine with an NVIDIA GPU"
        )
    return device


def _tf_reason(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*", "", text, flags=re.S)
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


def _meta(value: Any, name: str) -> tuple[Any, tuple[int, ...], Any]:
    """Return ``(value, shape, numpy dtype)`` without copying a tensor off its device."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value, tuple(value.shape), value.dtype.as_numpy_dtype
    arr = reference._array(value, name)
    return arr, arr.shape, arr.dtype


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
    conv = _checks.forward(xs, xd, ws, wd, strides, padding, data_format, dilations)
    fmt = conv.data_format
    with _on(device, "conv2d"):
        return tf.nn.conv2d(
            x, w, strides=_spatial4(conv.strides, fmt), padding=_tf_padding(padding, conv),
            data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
        )


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
    """``tf.raw_ops.Conv2DBackpropInput``. See :func:`convlab.conv2d_backprop_input`."""
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_input(input_sizes, ws, wd, ds, dd, strides, padding, data_format,
                                  dilations)
    with _on(device, "conv2d_backprop_input", "grad_input_via_conv2d"):
        return _backprop_input_op(conv, padding, w, dy)


def _backprop_input_op(conv: _checks.Conv, padding: Any, w: Any, dy: Any) -> tf.Tensor:
    fmt = conv.data_format
    mode = _tf_padding(padding, conv)
    explicit = [] if isinstance(mode, str) else [int(v) for pair in mode for v in pair]
    return tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.constant(_sizes(conv), dtype=tf.int32), filter=w, out_backprop=dy,
        strides=_spatial4(conv.strides, fmt), padding=mode if explicit == [] else "EXPLICIT",
        explicit_paddings=explicit, data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
    )


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
    """``tf.raw_ops.Conv2DBackpropFilter``. See :func:`convlab.conv2d_backprop_filter`."""
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_filter(xs, xd, filter_sizes, ds, dd, strides, padding, data_format,
                                   dilations)
    fmt = conv.data_format
    mode = _tf_padding(padding, conv)
    explicit = [] if isinstance(mode, str) else [int(v) for pair in mode for v in pair]
    with _on(device, "conv2d_backprop_filter", "grad_filter_via_conv2d"):
        return tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.constant(conv.filter_shape, dtype=tf.int32),
            out_backprop=dy, strides=_spatial4(conv.strides, fmt),
            padding=mode if explicit == [] else "EXPLICIT", explicit_paddings=explicit,
            data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
        )


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
    """``tf.nn.conv2d_transpose``. See :func:`convlab.conv2d_transpose`."""
    dy, ds, dd = _meta(input, "input")
    w, ws, wd = _meta(filters, "filters")
    names = {"sizes": "output_shape", "filters": "filters", "dy": "input",
             "layout": "[height, width, output_channels, in_channels]", "last_axis": "in_channels"}
    conv = _checks.backprop_input(output_shape, ws, wd, ds, dd, strides, padding, data_format,
                                  dilations, names=names)
    fmt = conv.data_format
    with _on(device, "conv2d_transpose", "grad_input_via_conv2d"):
        return tf.nn.conv2d_transpose(
            dy, w, output_shape=_sizes(conv), strides=_spatial4(conv.strides, fmt),
            padding=_tf_padding(padding, conv), data_format=fmt,
            dilations=_spatial4(conv.dilations, fmt),
        )


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
    conv = _checks.gradients(xs, xd, ws, wd, ds, dd, strides, padding, data_format, dilations)
    fmt = conv.data_format
    with _on(device, "the gradient of conv2d (GradientTape)", "grad_input_via_conv2d",
             "grad_filter_via_conv2d"):
        x, w, dy = (tf.convert_to_tensor(v) for v in (x, w, dy))
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = tf.nn.conv2d(
                x, w, strides=_spatial4(conv.strides, fmt), padding=_tf_padding(padding, conv),
                data_format=fmt, dilations=_spatial4(conv.dilations, fmt),
            )
        d_x, d_w = tape.gradient(y, [x, w], output_gradients=dy)
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
    dilations, where TensorFlow's own backprop ops refuse.
    """
    w, ws, wd = _meta(filters, "filters")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_input(input_sizes, ws, wd, ds, dd, strides, padding, data_format,
                                  dilations)
    with _on(device, "grad_input_via_conv2d"):
        w, dy = tf.convert_to_tensor(w), _to_nhwc(tf.convert_to_tensor(dy), conv.data_format)
        dx = via_conv2d.grad_input(conv, w, dy, TENSORFLOW)
        return _from_nhwc(dx, conv.data_format)


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
    """d_w from ``tf.nn.conv2d`` alone. See :func:`convlab.grad_filter_via_conv2d`."""
    x, xs, xd = _meta(input, "input")
    dy, ds, dd = _meta(out_backprop, "out_backprop")
    conv = _checks.backprop_filter(xs, xd, filter_sizes, ds, dd, strides, padding, data_format,
                                   dilations)
    with _on(device, "grad_filter_via_conv2d"):
        x = _to_nhwc(tf.convert_to_tensor(x), conv.data_format)
        dy = _to_nhwc(tf.convert_to_tensor(dy), conv.data_format)
        return via_conv2d.grad_filter(conv, x, dy, TENSORFLOW)


def as_numpy(value: Any) -> np.ndarray:
    """Return a tensor's values as a numpy array (copied to the host)."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
