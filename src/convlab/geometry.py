"""Output-size arithmetic of a 2-D convolution, one spatial axis at a time.

Every backend resolves its ``strides``, ``padding`` and ``dilations`` here, so
that numpy and TensorFlow agree on where the padding goes and how large each
result is.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Axis",
    "effective_kernel",
    "output_size",
    "resolve_axis",
    "same_padding",
    "valid_input_sizes",
]


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Return the span of a filter of ``kernel`` taps ``dilation`` apart.

    Dilation 1 means contiguous taps, as in TensorFlow, PyTorch and JAX.

    Examples
    --------
    >>> effective_kernel(3, dilation=2)
    5
    """
    return dilation * (kernel - 1) + 1


def same_padding(
    size: int, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Return TensorFlow's ``"SAME"`` padding ``(before, after)`` on one axis.

    The total makes the output ``ceil(size / stride)`` long; an odd total puts
    the
    extra row or column *after* the input (bottom or right).

    Examples
    --------
    >>> same_padding(8, kernel=3, stride=2)
    (0, 1)
    """
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

    @property
    def k_eff(self) -> int:
        """Extent of the dilated kernel."""
        return effective_kernel(self.kernel, self.dilation)

    @property
    def padded(self) -> int:
        """Length of the padded input."""
        return self.size + self.pad_before + self.pad_after

    @property
    def out(self) -> int:
        """Output length: how many windows fit in the padded input."""
        return (self.padded - self.k_eff) // self.stride + 1

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
        """Rows of the padded input after the last window (no gradient)."""
        return (self.padded - self.k_eff) % self.stride


def resolve_axis(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: str | tuple[int, int] = "VALID",
    dilation: int = 1,
) -> Axis:
    """Resolve ``"VALID"``, ``"SAME"`` or ``(before, after)`` on one axis.

    Raises
    ------
    ValueError
        If the dilated kernel is larger than the padded input.
    """
    if isinstance(padding, str):
        pads = (
            same_padding(size, kernel, stride, dilation)
            if padding == "SAME"
            else (0, 0)
        )
    else:
        pads = (int(padding[0]), int(padding[1]))
    axis = Axis(size, kernel, stride, dilation, *pads)
    if axis.k_eff > axis.padded:
        raise ValueError(
            f"the filter spans {axis.k_eff} (kernel {kernel}, dilation "
            f"{dilation}) but the padded input is only {axis.padded} long "
            f"({size} + {pads[0]} + {pads[1]} padding): "
            "use a smaller kernel or dilation, more padding, or padding='SAME'"
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
    ``ceil(size / stride)``, and ``(before, after)`` pads explicitly.

    Examples
    --------
    >>> output_size(9, kernel=3, stride=2, padding="VALID")
    4
    >>> output_size(9, kernel=3, stride=2, padding="SAME")
    5
    >>> output_size(9, kernel=3, stride=2, padding=(1, 0), dilation=2)
    3
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
    picks among them).

    Examples
    --------
    >>> valid_input_sizes(4, kernel=3, stride=2, padding="SAME")
    [7, 8]
    """
    sizes = []
    for size in range(
        1, out * stride + effective_kernel(kernel, dilation) + 1
    ):
        try:
            if output_size(size, kernel, stride, padding, dilation) == out:
                sizes.append(size)
        except ValueError:
            continue
    return sizes
