"""Argument checking shared by the numpy and TensorFlow backends.

Each check works on shapes and dtypes only, so a TensorFlow tensor on a GPU is never
copied to the host just to be checked. Every error names the argument and the form
that is accepted.

Every size, stride, dilation and padding amount is at most :data:`LIMIT` (``2**31 - 1``):
TensorFlow's kernels hold them in int32 and refuse larger ones, and below it no product
of two of them overflows numpy's int64.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# geometry checks its own arguments with the helpers below: one import each way, so the
# module objects, not their names, are imported
from convlab import geometry

#: The largest size, stride, dilation or padding amount (TensorFlow's int32 limit).
LIMIT = 2**31 - 1

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

LAYOUT = {
    "NHWC": "[batch, height, width, channels]",
    "NCHW": "[batch, channels, height, width]",
}
FILTER_LAYOUT = "[filter_height, filter_width, in_channels, out_channels] (HWIO)"


def _is_int(value: Any) -> bool:
    """An int (numpy's included, a 0-d integer array too), never a bool."""
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iu"
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# the least value of each one-axis argument of convlab.geometry
_AXIS_LEAST = {"size": 0, "out": 0, "pad_before": 0, "pad_after": 0, "kernel": 1, "stride": 1,
               "dilation": 1}


def whole(name: str, value: Any, least: int, most: int | None = LIMIT) -> int:
    """Return ``value`` as a Python int if it is an int from ``least`` (0 or 1) to ``most``."""
    accepted = f"{name} must be a {'non-negative' if least == 0 else 'positive'} int"
    if most is not None:
        accepted += f" at most {most}" + (" (2**31 - 1)" if most == LIMIT else "")
    if not _is_int(value):
        raise TypeError(f"{accepted}; got {value!r}")
    if int(value) < least or (most is not None and int(value) > most):
        raise ValueError(f"{accepted}; got {value!r}")
    return int(value)


def axis_ints(**values: Any) -> tuple[int, ...]:
    """Return the one-axis ints ``values`` (``size=..., kernel=...``) as Python ints, in order.

    ``size``, ``out`` and the pads may be 0; ``kernel``, ``stride`` and ``dilation`` start at
    1; none exceeds :data:`LIMIT`.
    """
    return tuple(whole(name, value, _AXIS_LEAST[name]) for name, value in values.items())


def axis_padding(value: Any) -> str | tuple[int, int]:
    """Return ``"VALID"``, ``"SAME"`` or ``(before, after)``: one axis's padding."""
    accepted = ("padding must be 'VALID', 'SAME' or explicit (before, after) for one axis, "
                f"with non-negative ints at most {LIMIT}")
    if isinstance(value, str):
        if value.upper() in ("VALID", "SAME"):
            return value.upper()
        raise ValueError(f"{accepted}; got {value!r}")
    if not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{accepted}; got {value!r}")
    try:
        flat = np.ndim(value) == 1
    except ValueError:  # ragged nesting
        flat = False
    if not flat or len(value) != 2:
        raise ValueError(f"{accepted}; got {value!r}")
    if not all(_is_int(v) for v in value):
        raise TypeError(f"{accepted}; got {value!r}")
    before, after = (int(v) for v in value)
    if min(before, after) < 0 or max(before, after) > LIMIT:
        raise ValueError(f"{accepted}; got {value!r}")
    return (before, after)


def check_data_format(value: Any) -> str:
    """Return ``"NHWC"`` or ``"NCHW"``."""
    if not isinstance(value, str) or value.upper() not in LAYOUT:
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {value!r}")
    return value.upper()


def window(value: Any, name: str, fmt: str) -> tuple[int, int]:
    """Return ``(height, width)`` strides or dilations from TF's accepted forms."""
    accepted = (
        f"{name} must be a positive int, 2 ints [height, width], or 4 ints with 1 for "
        f"batch and channels ({'[1, h, w, 1]' if fmt == 'NHWC' else '[1, 1, h, w]'} "
        f"for {fmt})"
    )
    if value is None and name == "dilations":
        return (1, 1)
    if _is_int(value):
        values = [value]
    elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        try:
            flat = np.ndim(value) == 1
        except ValueError:  # ragged nesting
            flat = False
        if not flat:
            raise ValueError(f"{accepted}; got {value!r}")
        values = list(np.asarray(value, dtype=object))
    else:
        raise TypeError(f"{accepted}; got {value!r}")
    if not all(_is_int(v) for v in values):
        raise TypeError(f"{accepted}; got {value!r}")
    values = [int(v) for v in values]
    if len(values) == 1:
        values = values * 2
    elif len(values) == 4:
        spatial = (1, 2) if fmt == "NHWC" else (2, 3)
        others = [values[i] for i in range(4) if i not in spatial]
        if others != [1, 1]:
            raise ValueError(f"{accepted}; got {value!r}: the batch and channel entries must be 1")
        values = [values[i] for i in spatial]
    elif len(values) != 2:
        raise ValueError(f"{accepted}; got {len(values)} values: {value!r}")
    if min(values) < 1:
        raise ValueError(f"{accepted}; got {value!r}: every entry must be at least 1")
    if max(values) > LIMIT:
        raise ValueError(
            f"{accepted}; got {value!r}: every entry must be at most {LIMIT} (2**31 - 1, "
            "TensorFlow's int32 limit)"
        )
    return (values[0], values[1])


def padding(value: Any, fmt: str) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """Return ``"VALID"``, ``"SAME"`` or explicit ``((top, bottom), (left, right))``."""
    spatial = (1, 2) if fmt == "NHWC" else (2, 3)
    four = "[[0, 0], [top, bottom], [left, right], [0, 0]]" if fmt == "NHWC" else (
        "[[0, 0], [0, 0], [top, bottom], [left, right]]"
    )
    accepted = (
        "padding must be 'VALID', 'SAME', explicit [[top, bottom], [left, right]] "
        f"or TensorFlow's 4-pair form {four} for {fmt}, with non-negative ints"
    )
    if isinstance(value, str):
        if value.upper() in ("VALID", "SAME"):
            return value.upper()
        raise ValueError(f"{accepted}; got {value!r}")
    if not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{accepted}; got {value!r}")
    try:
        pairs = [list(p) for p in value]
    except TypeError:
        raise ValueError(f"{accepted}; got {value!r}") from None
    if len(pairs) not in (2, 4) or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{accepted}; got {value!r}")
    if not all(_is_int(v) for p in pairs for v in p):
        raise TypeError(f"{accepted}; got {value!r}")
    if any(int(v) < 0 for p in pairs for v in p):
        raise ValueError(f"{accepted}; got {value!r}: padding cannot be negative")
    if any(int(v) > LIMIT for p in pairs for v in p):
        raise ValueError(f"{accepted}; got {value!r}: padding cannot exceed {LIMIT} (2**31 - 1)")
    if len(pairs) == 4:
        if any(int(v) != 0 for i in range(4) if i not in spatial for v in pairs[i]):
            raise ValueError(f"{accepted}; got {value!r}: batch and channel padding must be 0")
        pairs = [pairs[i] for i in spatial]
    (top, bottom), (left, right) = pairs
    return ((int(top), int(bottom)), (int(left), int(right)))


def float_dtype(name: str, dtype: Any) -> np.dtype:
    """Return ``dtype`` in native byte order if it is float16, float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):  # a name numpy doesn't know, e.g. "bfloat16"
        dt = None
    if dt is not None and dt.kind == "f" and not dt.isnative:
        dt = dt.newbyteorder("=")
    if dt is None or dt not in FLOAT_DTYPES:  # numpy reads None as float64
        shown = dt.name if dt is not None else repr(dtype)
        if name == "dtype":
            raise TypeError(f"dtype must be 'float16', 'float32' or 'float64', got {shown}")
        raise TypeError(
            f"{name} must hold float16, float32 or float64 values, got dtype {shown}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    return dt


def rank4(name: str, shape: tuple[int, ...], layout: str,
          least: int = 0) -> tuple[int, int, int, int]:
    """Return ``shape`` if it is 4-D, every dimension from ``least`` to :data:`LIMIT`.

    A dimension of 0 is an empty array, which TensorFlow computes with (an empty or
    zero-filled result); :func:`_resolve` refuses the zeros it refuses.
    """
    if len(shape) != 4:
        raise ValueError(f"{name} must be 4-D {layout}, got shape {tuple(shape)}")
    if min(shape) < least or max(shape) > LIMIT:
        raise ValueError(
            f"{name} must have every dimension from {least} to {LIMIT} (2**31 - 1), "
            f"got shape {tuple(shape)}"
        )
    return (int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3]))


def sizes(name: str, value: Any, layout: str, least: int = 0) -> tuple[int, int, int, int]:
    """Return the 4 ints of ``input_sizes``, ``filter_sizes`` or ``output_shape``."""
    accepted = f"{name} must be 4 {'non-negative' if least == 0 else 'positive'} ints {layout}"
    try:
        values = list(np.asarray(value, dtype=object)) if np.ndim(value) == 1 else None
    except (TypeError, ValueError):
        values = None
    if values is None:
        raise TypeError(f"{accepted}; got {value!r}")
    if not all(_is_int(v) for v in values):
        raise TypeError(f"{accepted}; got {value!r}")
    return rank4(name, tuple(int(v) for v in values), layout, least)


def to_nhwc(shape: tuple[int, int, int, int], fmt: str) -> tuple[int, int, int, int]:
    """Return an NHWC or NCHW shape as NHWC."""
    if fmt == "NCHW":
        n, c, h, w = shape
        return (n, h, w, c)
    return shape


def from_nhwc(shape: tuple[int, int, int, int], fmt: str) -> tuple[int, int, int, int]:
    """Return an NHWC shape in ``fmt``."""
    if fmt == "NCHW":
        n, h, w, c = shape
        return (n, c, h, w)
    return shape


@dataclass(frozen=True)
class Conv:
    """A checked convolution: NHWC input shape, HWIO filter shape and both axes resolved."""

    input_shape: tuple[int, int, int, int]
    filter_shape: tuple[int, int, int, int]
    h: geometry.Axis
    w: geometry.Axis
    data_format: str
    dtype: np.dtype

    @property
    def strides(self) -> tuple[int, int]:
        return (self.h.stride, self.w.stride)

    @property
    def dilations(self) -> tuple[int, int]:
        return (self.h.dilation, self.w.dilation)

    @property
    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((self.h.pad_before, self.h.pad_after), (self.w.pad_before, self.w.pad_after))

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """NHWC shape of the forward output."""
        return (self.input_shape[0], self.h.out, self.w.out, self.filter_shape[3])


def _same_dtype(names: tuple[str, str], a: np.dtype, b: np.dtype) -> None:
    if a != b:
        raise TypeError(
            f"{names[0]} and {names[1]} must have the same dtype, got {a} and {b}; "
            f"convert one, e.g. {names[1]}.astype({names[0]}.dtype)"
        )


def _resolve(
    input_shape: tuple[int, int, int, int],
    filter_shape: tuple[int, int, int, int],
    strides: Any,
    pad: Any,
    fmt: str,
    dilations: Any,
    dtype: np.dtype,
    names: dict[str, str],
) -> Conv:
    sh, sw = window(strides, "strides", fmt)
    dh, dw = window(dilations, "dilations", fmt)
    mode = padding(pad, fmt)
    pad_h: str | tuple[int, int] = mode if isinstance(mode, str) else mode[0]
    pad_w: str | tuple[int, int] = mode if isinstance(mode, str) else mode[1]
    _, hi, wi, ci = input_shape
    kh, kw, fi, _ = filter_shape
    if min(kh, kw) < 1:
        raise ValueError(
            f"{names['filters']} must have a height and width of at least 1 (filters are "
            f"{FILTER_LAYOUT}), got shape {filter_shape}; TensorFlow refuses empty filters"
        )
    if ci != fi:
        raise ValueError(
            f"{names['input']} has {ci} channels but {names['filters']} expects {fi} "
            f"(filters are {FILTER_LAYOUT}); the in_channels axis must match"
        )
    if ci < 1:
        raise ValueError(
            f"{names['input']} has 0 channels (and {names['filters']} 0 in_channels); "
            "TensorFlow needs at least 1, though a batch, height, width or out_channels of 0 "
            "give an empty result"
        )
    try:
        h = geometry.resolve_axis(hi, kh, sh, pad_h, dh)
        w = geometry.resolve_axis(wi, kw, sw, pad_w, dw)
    except ValueError as err:
        raise ValueError(f"{names['filters']} does not fit {names['input']}: {err}") from None
    return Conv(input_shape, filter_shape, h, w, fmt, dtype)


def forward(
    input_shape: Any, input_dtype: Any, filter_shape: Any, filter_dtype: Any,
    strides: Any, pad: Any, fmt: Any, dilations: Any,
) -> Conv:
    """Check the arguments of ``conv2d``."""
    fmt = check_data_format(fmt)
    dtype = float_dtype("input", input_dtype)
    _same_dtype(("input", "filters"), dtype, float_dtype("filters", filter_dtype))
    x_shape = to_nhwc(rank4("input", tuple(input_shape), LAYOUT[fmt]), fmt)
    w_shape = rank4("filters", tuple(filter_shape), FILTER_LAYOUT)
    names = {"input": "input", "filters": "filters"}
    return _resolve(x_shape, w_shape, strides, pad, fmt, dilations, dtype, names)


def conv_geometry(
    input_shape: Any,
    filter_shape: Any,
    strides: Any,
    padding: Any,
    data_format: str = "NHWC",
    dilations: Any = None,
) -> Conv:
    """Resolve a convolution's sizes: padding per side, output size, unreached rows.

    Parameters
    ----------
    input_shape : 4 ints
        Shape of ``x`` in ``data_format`` order.
    filter_shape : 4 ints
        ``[KH, KW, C_in, C_out]``.
    strides, padding, data_format, dilations
        As in :func:`convlab.conv2d`.

    Returns
    -------
    Conv
        ``.h`` and ``.w`` are :class:`convlab.geometry.Axis` records; ``.pads``,
        ``.strides``, ``.dilations`` and ``.output_shape`` (NHWC) summarise them.

    Examples
    --------
    >>> conv_geometry((1, 8, 8, 3), (3, 3, 3, 4), strides=2, padding="SAME").pads
    ((0, 1), (0, 1))
    """
    fmt = check_data_format(data_format)
    x_shape = to_nhwc(sizes("input_shape", input_shape, LAYOUT[fmt]), fmt)
    w_shape = sizes("filter_shape", filter_shape, FILTER_LAYOUT)
    names = {"input": "input_shape", "filters": "filter_shape"}
    return _resolve(x_shape, w_shape, strides, padding, fmt, dilations, np.dtype(np.float64),
                    names)


def _out_backprop_matches(conv: Conv, dy_shape: tuple[int, int, int, int], names: dict[str, str],
                          sizes_name: str) -> None:
    fmt = conv.data_format
    n, oh, ow, co = to_nhwc(dy_shape, fmt)
    if n != conv.input_shape[0]:
        raise ValueError(
            f"{names['dy']} has batch {n} but {sizes_name} has batch {conv.input_shape[0]}"
        )
    if co != conv.filter_shape[3]:
        raise ValueError(
            f"{names['dy']} has {co} channels but {names['filters']} has "
            f"{conv.filter_shape[3]} {names.get('last_axis', 'out_channels')} (its last axis)"
        )
    if (oh, ow) != (conv.h.out, conv.w.out):
        raise ValueError(
            f"{names['dy']} has height x width {oh} x {ow}, but {sizes_name} with this filter, "
            f"strides, padding and dilations gives {conv.h.out} x {conv.w.out}"
        )


def _input_size_hint(axis: geometry.Axis, out: int, pad: str | tuple[int, int],
                     which: str) -> str:
    first, stop = geometry.input_size_span(out, axis.kernel, axis.stride, pad, axis.dilation)
    if stop - first > 10:  # consecutive: at a large stride, too many to list
        listed = f"{first} to {stop - 1}"
    else:
        listed = ", ".join(map(str, range(first, stop))) or "none"
    return f"input {which}s that give {out}: {listed}"


def backprop_input(
    input_sizes: Any, filter_shape: Any, filter_dtype: Any, dy_shape: Any, dy_dtype: Any,
    strides: Any, pad: Any, fmt: Any, dilations: Any,
    names: dict[str, str] | None = None,
) -> Conv:
    """Check ``conv2d_backprop_input``'s arguments (``conv2d_transpose``'s with ``names``)."""
    names = names or {"sizes": "input_sizes", "filters": "filters", "dy": "out_backprop"}
    fmt = check_data_format(fmt)
    dtype = float_dtype(names["dy"], dy_dtype)
    _same_dtype((names["dy"], names["filters"]), dtype, float_dtype(names["filters"], filter_dtype))
    x_shape = to_nhwc(sizes(names["sizes"], input_sizes, LAYOUT[fmt]), fmt)
    w_shape = rank4(names["filters"], tuple(filter_shape), names.get("layout", FILTER_LAYOUT))
    dy = rank4(names["dy"], tuple(dy_shape), LAYOUT[fmt])
    conv = _resolve(x_shape, w_shape, strides, pad, fmt, dilations, dtype,
                    {"input": names["sizes"], "filters": names["filters"]})
    try:
        _out_backprop_matches(conv, dy, names, names["sizes"])
    except ValueError as err:
        mode = padding(pad, fmt)
        _, oh, ow, _ = to_nhwc(dy, fmt)
        if (oh, ow) == (conv.h.out, conv.w.out):
            raise
        hints = [
            _input_size_hint(conv.h, oh, mode if isinstance(mode, str) else mode[0], "height"),
            _input_size_hint(conv.w, ow, mode if isinstance(mode, str) else mode[1], "width"),
        ]
        raise ValueError(f"{err}; {'; '.join(hints)}") from None
    return conv


def backprop_filter(
    input_shape: Any, input_dtype: Any, filter_sizes: Any, dy_shape: Any, dy_dtype: Any,
    strides: Any, pad: Any, fmt: Any, dilations: Any,
) -> Conv:
    """Check the arguments of ``conv2d_backprop_filter``."""
    fmt = check_data_format(fmt)
    dtype = float_dtype("input", input_dtype)
    _same_dtype(("input", "out_backprop"), dtype, float_dtype("out_backprop", dy_dtype))
    x_shape = to_nhwc(rank4("input", tuple(input_shape), LAYOUT[fmt]), fmt)
    w_shape = sizes("filter_sizes", filter_sizes, FILTER_LAYOUT)
    dy = rank4("out_backprop", tuple(dy_shape), LAYOUT[fmt])
    conv = _resolve(x_shape, w_shape, strides, pad, fmt, dilations, dtype,
                    {"input": "input", "filters": "filter_sizes"})
    _out_backprop_matches(conv, dy, {"dy": "out_backprop", "filters": "filter_sizes"},
                          "input with filter_sizes")
    return conv


def gradients(
    input_shape: Any, input_dtype: Any, filter_shape: Any, filter_dtype: Any,
    dy_shape: Any, dy_dtype: Any, strides: Any, pad: Any, fmt: Any, dilations: Any,
) -> Conv:
    """Check the arguments of ``autodiff(input, filters, out_backprop, ...)``."""
    conv = forward(input_shape, input_dtype, filter_shape, filter_dtype, strides, pad, fmt,
                   dilations)
    _same_dtype(("input", "out_backprop"), conv.dtype, float_dtype("out_backprop", dy_dtype))
    dy = rank4("out_backprop", tuple(dy_shape), LAYOUT[conv.data_format])
    _out_backprop_matches(conv, dy, {"dy": "out_backprop", "filters": "filters"}, "input")
    return conv


class DeviceUnavailableError(RuntimeError):
    """``device="gpu"`` was asked for but the framework sees no GPU."""


def device(value: Any, gpu_seen: Callable[[], bool], none_seen: str) -> str:
    """Return ``"cpu"`` or ``"gpu"`` for ``device="auto" | "cpu" | "gpu"`` (any case).

    ``gpu_seen()`` says whether the framework sees a GPU; ``none_seen`` is the message
    of the :class:`DeviceUnavailableError` raised for ``"gpu"`` without one.
    """
    if not isinstance(value, str) or value.lower() not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {value!r}")
    value = value.lower()
    if value == "auto":
        return "gpu" if gpu_seen() else "cpu"
    if value == "gpu" and not gpu_seen():
        raise DeviceUnavailableError(none_seen)
    return value
