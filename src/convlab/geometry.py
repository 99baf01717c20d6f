"""Output-size arithmetic of a 2-D convolution, one spatial axis at a time.

Every backend resolves its ``strides``, ``padding`` and ``dilations`` here, so
that numpy and TensorFlow agree on where the padding goes and how large each
result is.

The helpers check their arguments as the conv functions do: ``size``, ``out``
and padding amounts are ints from 0, ``kernel``, ``stride`` and ``dilation``
ints from 1, none above ``2**31 - 1`` (TensorFlow's int32 limit; numpy
integers are welcome); ``padding`` is ``"VALID"`` or ``"SAME"`` in any case,
or ``(before, after)``. Anything else is a ``TypeError`` or ``ValueError``
naming the argument.
"""

from __future__ import annotations

from dataclasses import dataclass

# _checks imports this module too: only the module object is bound here
from convlab import _checks

__all__ = [
    "Axis",
    "effective_kernel",
    "input_size_span",
    "output_size",
    "resolve_axis",
    "same_padding",
    "valid_input_sizes",
]

# valid_input_sizes lists at most this many lengths (a stride this large)
MAX_LISTED = 2**20


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Return the span of a filter of ``kernel`` taps ``dilation`` apart.

    Dilation 1 means contiguous taps, as in TensorFlow, PyTorch and JAX.

    Examples
    --------
    >>> effective_kernel(3, dilation=2)
    5
    """
    kernel, dilation = _checks.axis_ints(kernel=kernel, dilation=dilation)
    return dilation * (kernel - 1) + 1


def same_padding(
    size: int, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Return TensorFlow's ``"SAME"`` padding ``(before, after)`` on one axis.

    The total makes the output ``ceil(size / stride)`` long; an odd total puts
    the extra row or column *after* the input (bottom or right).

    Examples
    --------
    >>> same_padding(8, kernel=3, stride=2)
    (0, 1)
    """
    size, stride = _checks.axis_ints(size=size, stride=stride)
    out = -(-size // stride)
    total = max(
        (out - 1) * stride + effective_kernel(kernel, dilation) - size, 0
    )
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a convolution, with its padding resolved.

    Attributes
    ----------
    size : int
        Input length (rows or columns).
    kernel, stride, dilation : int
        Filter taps, step between windows, step between taps.
    pad_before, pad_after : int
        Zeros added before and after the input.
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int

    def __post_init__(self) -> None:
        names = ("size", "kernel", "stride", "dilation")
        checked = [*_checks.axis_ints(**{n: getattr(self, n) for n in names})]
        # SAME pads up to a dilated kernel, which may exceed 2**31 - 1
        for name in ("pad_before", "pad_after"):
            checked.append(
                _checks.whole(name, getattr(self, name), 0, _checks.LIMIT**2)
            )
        for name, value in zip((*names, "pad_before", "pad_after"), checked,
                               strict=True):
            object.__setattr__(self, name, value)  # numpy ints as ints

    @property
    def k_eff(self) -> int:
        """Extent of the dilated kernel."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        """Length of the padded input."""
        return self.size + self.pad_before + self.pad_after

    @property
    def out(self) -> int:
        """Output length: how many windows fit in the padded input.

        0 when the filter is longer than the padded input, as in TensorFlow.
        """
        return max((self.padded - self.k_eff) // self.stride + 1, 0)

    def inside(self, tap: int) -> tuple[int, int]:
        """Outputs ``first, stop`` whose tap ``tap`` reads x, not its padding.

        Output ``i`` reads input ``stride*i + dilation*tap - pad_before``.

        Examples
        --------
        >>> axis = Axis(5, kernel=3, stride=2, dilation=1, pad_before=1,
        ...             pad_after=1)
        >>> axis.inside(0)
        (1, 3)
        """
        offset = self.dilation * tap - self.pad_before
        first = max(0, -(offset // self.stride))
        stop = min(self.out, (self.size - 1 - offset) // self.stride + 1)
        return first, max(first, stop)

    @property
    def unreached(self) -> int:
        """Rows of the padded input after the last window (no gradient).

        All of them when no window fits.
        """
        if self.out == 0:
            return self.padded
        return (self.padded - self.k_eff) % self.stride


def resolve_axis(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: str | tuple[int, int] = "VALID",
    dilation: int = 1,
) -> Axis:
    """Resolve ``"VALID"``, ``"SAME"`` or ``(before, after)`` on one axis.

    A filter longer than the padded input gives no output rows, as in
    TensorFlow, where ``(padded - k_eff + stride) / stride`` rounds towards
    zero; TensorFlow refuses it when that is negative.

    Raises
    ------
    ValueError
        If the dilated kernel is longer than the padded input by twice the
        stride or more.
    """
    size, kernel, stride, dilation = _checks.axis_ints(
        size=size, kernel=kernel, stride=stride, dilation=dilation
    )
    mode = _checks.axis_padding(padding)
    if mode == "SAME":
        pads = same_padding(size, kernel, stride, dilation)
    elif isinstance(mode, str):  # VALID
        pads = (0, 0)
    else:
        pads = mode
    axis = Axis(size, kernel, stride, dilation, *pads)
    if axis.k_eff - axis.padded >= 2 * stride:
        raise ValueError(
            f"the filter spans {axis.k_eff} (kernel {kernel}, dilation "
            f"{dilation}) but the padded input is only {axis.padded} long "
            f"({size} + {pads[0]} + {pads[1]} padding): TensorFlow refuses a "
            "filter longer than the padded input by twice the stride "
            f"({stride}) or more, and gives 0 rows when it is longer by less; "
            "use a smaller kernel or dilation, more padding, or "
            "padding='SAME'"
        )
    return axis


def output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: str | tuple[int, int] = "VALID",
    dilation: int = 1,
) -> int:
    """Return the output length along one axis.

    ``"VALID"`` gives ``floor((size - k_eff) / stride) + 1``, ``"SAME"`` gives
    ``ceil(size / stride)``, and ``(before, after)`` pads explicitly. A filter
    longer than the padded input gives 0, as in TensorFlow (which refuses it
    when the filter is longer by twice the stride or more).

    Examples
    --------
    >>> output_size(9, kernel=3, stride=2, padding="VALID")
    4
    >>> output_size(9, kernel=3, stride=2, padding="SAME")
    5
    >>> output_size(9, kernel=3, stride=2, padding=(1, 0), dilation=2)
    3
    >>> output_size(2, kernel=3, padding="VALID")
    0
    """
    return resolve_axis(size, kernel, stride, padding, dilation).out


def valid_input_sizes(
    out: int,
    kernel: int,
    stride: int = 1,
    padding: str | tuple[int, int] = "VALID",
    dilation: int = 1,
) -> list[int]:
    """Return every input length whose output length is ``out``.

    With ``stride > 1`` several input lengths share one output length, which
    is why ``conv2d_backprop_input`` needs ``input_sizes`` and
    ``conv2d_transpose`` needs ``output_shape`` (PyTorch's ``output_padding``
    picks among them). They are consecutive: ``stride`` of them for
    ``out >= 1``, before any is cut off at 0.

    Raises
    ------
    ValueError
        If there are more than ``2**20`` (a larger stride): too many to list.

    Examples
    --------
    >>> valid_input_sizes(4, kernel=3, stride=2, padding="SAME")
    [7, 8]
    """
    first, stop = input_size_span(out, kernel, stride, padding, dilation)
    if stop - first > MAX_LISTED:
        raise ValueError(
            f"{stop - first} input lengths give {out} (every one from "
            f"{first} to {stop - 1}): more than valid_input_sizes lists "
            f"({MAX_LISTED}), because stride {stride} is that large"
        )
    return list(range(first, stop))


def input_size_span(
    out: int,
    kernel: int,
    stride: int = 1,
    padding: str | tuple[int, int] = "VALID",
    dilation: int = 1,
) -> tuple[int, int]:
    """Return ``(first, stop)``: the input lengths giving ``out``, a range.

    Examples
    --------
    >>> input_size_span(4, kernel=3, stride=2, padding="SAME")
    (7, 9)
    """
    out, kernel, stride, dilation = _checks.axis_ints(
        out=out, kernel=kernel, stride=stride, dilation=dilation
    )
    mode = _checks.axis_padding(padding)
    top = _checks.LIMIT + 1  # no input is longer
    if mode == "SAME":  # out = ceil(size / stride)
        if out == 0:
            return 0, 1
        return min((out - 1) * stride + 1, top), min(out * stride + 1, top)
    k_eff = effective_kernel(kernel, dilation)
    if out == 0:  # the filter longer than the padded input, by < 2 strides
        low, high = k_eff - 2 * stride + 1, k_eff
    else:  # out - 1 strides after the first window, < stride rows left over
        low, high = k_eff + (out - 1) * stride, k_eff + out * stride
    pads = 0 if isinstance(mode, str) else mode[0] + mode[1]
    return min(max(low - pads, 0), top), min(max(high - pads, 0), top)
