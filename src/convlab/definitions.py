"""conv2d and its two gradients as the maths writes them, in a few lines each.

These are the forms the chapters show. Each function takes arrays that are
already checked and laid out NHWC, and the resolved geometry ``conv`` (from
:func:`convlab.conv_geometry`): its strides, dilations and pads. The public
functions of :mod:`convlab.reference` check the arguments and compute the
same sums with :mod:`convlab._engine`, tile by tile on every core; the tests
hold the two equal.

Notation: ``x`` (N, H, W, C_in), filter ``w`` (K_h, K_w, C_in, C_out), output
``y`` (N, O_h, O_w, C_out), and the gradients ``dy``, ``dx``, ``dw`` of a loss
with respect to them. ``xp`` is the padded input x̃, indexed from 0. Indices:
n batch, (i, j) output row and column, (a, b) filter tap, c input channel,
k output channel, (p, q) row and column of x̃. Strides (s_h, s_w), dilations
(d_h, d_w), pads ((p_t, p_b), (p_l, p_r)).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convlab._checks import Conv

__all__ = [
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv2d_loops",
    "pad_hw",
    "windows",
]


def pad_hw(
    x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]
) -> np.ndarray:
    """Pad the height and width of NHWC ``x`` with zeros.

    ``pads`` is ``((p_t, p_b), (p_l, p_r))``; without padding, ``x`` itself.
    """
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def windows(
    xp: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
) -> np.ndarray:
    """Return every window of padded NHWC ``xp`` as a view.

    Parameters
    ----------
    xp : ndarray, shape (N, Hp, Wp, C)
        The padded input.
    kernel, strides, dilations : (int, int)
        Filter taps, window step and tap step along height and width.

    Returns
    -------
    ndarray, shape (N, OH, OW, KH, KW, C)
        ``windows[n,i,j,a,b,c] == xp[n, s_h*i + d_h*a, s_w*j + d_w*b, c]``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = sliding_window_view(xp, span, axis=(1, 2))
    view = view[:, ::sh, ::sw, :, ::dh, ::dw]
    return view.transpose(0, 1, 2, 4, 5, 3)


def conv2d_loops(conv: Conv, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Compute ``y`` one element at a time: the index formula as loops.

    Parameters
    ----------
    conv : Conv
        The resolved geometry.
    x : ndarray, shape (N, H, W, C_in)
    w : ndarray, shape (K_h, K_w, C_in, C_out)

    Returns
    -------
    ndarray, shape (N, O_h, O_w, C_out)
        ``y[n, i, j, k] = sum over a, b, c of
        xp[n, s_h*i + d_h*a, s_w*j + d_w*b, c] * w[a, b, c, k]``.
    """
    xp = pad_hw(x, conv.pads)
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    n_batch, oh, ow, c_out = conv.output_shape
    kh, kw, c_in, _ = w.shape
    y = np.zeros(conv.output_shape, dtype=x.dtype)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for k in range(c_out):
                    total = 0.0
                    for a in range(kh):
                        p = sh * i + dh * a
                        for b in range(kw):
                            q = sw * j + dw * b
                            for c in range(c_in):
                                total += xp[n, p, q, c] * w[a, b, c, k]
                    y[n, i, j, k] = total
    return y


def conv2d(conv: Conv, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Compute ``y``: every window of x̃ contracted with the filter at once.

    Parameters
    ----------
    conv : Conv
        The resolved geometry.
    x : ndarray, shape (N, H, W, C_in)
    w : ndarray, shape (K_h, K_w, C_in, C_out)

    Returns
    -------
    ndarray, shape (N, O_h, O_w, C_out)
        ``y[n, i, j, k] = sum over a, b, c of
        windows[n, i, j, a, b, c] * w[a, b, c, k]``.
    """
    xp = pad_hw(x, conv.pads)
    kernel = conv.filter_shape[:2]
    patches = windows(xp, kernel, conv.strides, conv.dilations)
    return np.einsum("nijabc,abck->nijk", patches, w)


def conv2d_backprop_input(
    conv: Conv, w: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """Compute ``dx``: each tap scatters ``dy`` times its weights back.

    Tap ``(a, b)`` of window ``(i, j)`` read ``xp[n, s_h*i + d_h*a,
    s_w*j + d_w*b]``, so its share of the gradient goes to the same strided
    slice of a padded gradient; the padding's share is then cropped away.

    Parameters
    ----------
    conv : Conv
        The resolved geometry.
    w : ndarray, shape (K_h, K_w, C_in, C_out)
    dy : ndarray, shape (N, O_h, O_w, C_out)

    Returns
    -------
    ndarray, shape (N, H, W, C_in)
        ``dx[n, p - p_t, q - p_l, c] = sum over i, j, a, b, k with
        s_h*i + d_h*a = p and s_w*j + d_w*b = q of
        dy[n, i, j, k] * w[a, b, c, k]``.
    """
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    n_batch, oh, ow, _ = dy.shape
    kh, kw, c_in, _ = w.shape
    dxp = np.zeros((n_batch, conv.h.padded, conv.w.padded, c_in), dy.dtype)
    for a, b in np.ndindex(kh, kw):
        p = slice(dh * a, dh * a + sh * (oh - 1) + 1, sh)  # rows s_h*i + d_h*a
        q = slice(dw * b, dw * b + sw * (ow - 1) + 1, sw)
        dxp[:, p, q] += dy @ w[a, b].T
    (p_t, _), (p_l, _) = conv.pads
    return dxp[:, p_t:p_t + conv.h.size, p_l:p_l + conv.w.size]


def conv2d_backprop_filter(
    conv: Conv, x: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """Compute ``dw``: the windows of x̃ weighted by ``dy``, summed.

    Parameters
    ----------
    conv : Conv
        The resolved geometry.
    x : ndarray, shape (N, H, W, C_in)
    dy : ndarray, shape (N, O_h, O_w, C_out)

    Returns
    -------
    ndarray, shape (K_h, K_w, C_in, C_out)
        ``dw[a, b, c, k] = sum over n, i, j of
        windows[n, i, j, a, b, c] * dy[n, i, j, k]``.
    """
    xp = pad_hw(x, conv.pads)
    kernel = conv.filter_shape[:2]
    patches = windows(xp, kernel, conv.strides, conv.dilations)
    return np.einsum("nijabc,nijk->abck", patches, dy)
