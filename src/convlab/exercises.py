"""Checkers for classroom exercises: run a student's function, say what is wrong with it.

Each ``check_<task>(fn)`` calls the student's ``fn`` on a fixed, ordered list of cases
(small single-channel ones first, then several channels, strides, TensorFlow's ``SAME``
with an odd total padding, and a batch of several images), compares every result with
convlab's numpy reference, and returns a :class:`CheckResult`. The result renders as
HTML in a notebook and as text elsewhere; it never raises, so a notebook with unfinished
exercises still runs top to bottom. ``result.raise_if_failed()`` turns a failure into an
``AssertionError`` (for reference solutions that a build must test).

Arrays are float64, NHWC (``[batch, height, width, channels]``); filters are HWIO
(``[height, width, in, out]``) except for ``conv2d_transpose``, whose filter is
``[height, width, out, in]`` as in TensorFlow. ``strides`` is passed as a tuple
``(s_h, s_w)`` and ``padding`` as ``"VALID"`` or ``"SAME"`` (TensorFlow's SAME: an odd
total padding puts the extra row or column after, at the bottom or right).

=============================  ==============================================================
checker                        the student's function
=============================  ==============================================================
``check_rot180``               ``fn(w)``: ``w`` turned 180 degrees in H and W with its channel
                               axes swapped, ``[kh, kw, out, in]``
``check_zero_insertion``       ``fn(dy, strides)``: ``s - 1`` zeros between the elements of
                               ``dy`` along H and W
``check_output_size``          ``fn(in_size, k, stride, dilation, padding)``: the output
                               length along one axis; ``padding`` is ``"VALID"``, ``"SAME"``
                               or ``(before, after)``
``check_conv2d_loops``         ``fn(x, w, strides, padding)``: ``tf.nn.conv2d``, with loops
``check_conv2d_im2col``        ``fn(x, w, strides, padding)``: the same, as im2col and a matmul
``check_grad_filter``          ``fn(x, filter_sizes, dy, strides, padding)``: ``d_w``
``check_grad_input``           ``fn(input_sizes, w, dy, strides, padding)``: ``d_x``
``check_conv2d_transpose``     ``fn(dy, w, output_shape, strides, padding)``, ``w`` as
                               ``[h, w, out, in]``
``check_conv2d_1x1``           ``fn(x, w)``: a 1 x 1 conv2d (stride 1, VALID) as one matmul
``check_window_cells``         ``fn(i, k, stride, dilation, pad_before, in_size)``: the
                               cells of ``x`` that window ``i`` reads along one axis
``check_conv2d_einsum``        ``fn(x, w, s)``: VALID conv2d as ``sliding_window_view`` and
                               one ``einsum``
``check_same_padding``         ``fn(in_size, k, stride, dilation)``: SAME's
                               ``(before, after)``
``check_valid_input_sizes``    ``fn(out_size, k, stride, dilation)``: every VALID input
                               length with ``out_size`` outputs
``check_output_padding``       ``fn(size, kernel, stride, padding)``: PyTorch's
                               ``output_padding``
``check_cell_readers``         ``fn(p, k, stride, pad_before, out_size)``: the
                               ``(i, a)`` pairs whose window reads cell ``p``
``check_full_padding``         ``fn(in_size, k, stride, dilation, padding)``: the gather's
                               ``(before, after)`` padding of the stretched ``dy``
``check_grad_input_1x1``       ``fn(dy, w)``: ``d_x`` of a 1 x 1 conv2d as one matmul
``check_zero_cells``           ``fn(in_size, k, stride, padding)``: the zeros of the
                               gather's input (square image and filter)
``check_dw_positions``         ``fn(in_size, k, stride, dilation, padding)``: ``d_w``'s
                               conv2d positions along the axis before the crop
``check_grad_filter_1x1``      ``fn(x, dy)``: ``d_w`` of a 1 x 1 conv2d as one matmul
``check_grad_filter_nchw``     ``fn(x, filter_sizes, dy, strides, padding)``: ``d_w``
                               (HWIO) for NCHW ``x`` and ``dy``
``check_coverage``             ``fn(size, k, stride)``: how many VALID windows read each
                               cell of an axis
``check_rows_reached``         ``fn(in_size, k, stride, dilation, padding)``: the rows of
                               ``x`` some window reads
``check_conv2d_macs``          ``fn(input_shape, filter_shape, strides, padding)``: the
                               multiply-adds of ``tf.nn.conv2d``
=============================  ==============================================================

How a diagnosis is made
-----------------------
The smallest failing case is the first one in the list that fails. A student's output
that matches the reference is correct; otherwise it is compared with the outputs of known
wrong variants of the task (computed here by private functions: the rotation forgotten,
the channel swap forgotten, the stride zeros not inserted, ...), never by reading the
student's code. A variant that matches the smallest failing case and at least half of
the cases the student gets wrong names the diagnosis (the one matching most cases wins).
A result of the wrong shape that no variant matches exactly, but whose shape is the one
a known mistake gives, gets that mistake's code. A function that raises on one case and
returns a known mistake's numbers on a later one (the rotated filter without the channel
swap fails loudly when the channel counts differ, silently when they are equal) gets the
mistake's code, with the exception shown.

How the student's function is run
---------------------------------
Nothing the student's function does or returns can crash a checker, hang it, or make a
wrong answer pass. The function runs in a forked child process (``convlab._sandbox``),
case after case, each with a time limit: :data:`TIMEOUT` seconds (default: the
environment variable ``CONVLAB_CHECK_TIMEOUT``, else 10; ``_Task.timeout`` for one
checker). A case past the limit kills the child (``timeout``), as does an endless loop
that catches every exception; ``sys.exit()``, ``os._exit()`` and any ``BaseException``
other than ``KeyboardInterrupt`` are reported (``exit``, ``exception``), as is a child
killed by a crash or by the memory running out (``crash``: its address space is capped
2 GiB above what it inherits). What the function prints is printed here. The child
checks each result and sends back only plain data: a C-contiguous float64 array of at
most the expected size times 64, or a plain ``int`` for a size (numpy integers converted
with ``operator.index``; a float, a bool or an ``int`` subclass is ``wrong_type``);
complex, object, NaN and unreadable results get their own codes. Where the system cannot
fork (Windows, macOS) or ``TIMEOUT`` is 0, the function runs in this process, without a
limit, and the message says so. The child costs each check about 25 ms in a plain
process, 80 ms in a notebook's kernel and 0.2 s once TensorFlow is imported (a larger
process to fork). A ``KeyboardInterrupt`` stops the check.

When a helper that the function calls still raises ``NotImplementedError``, the message
names the helper. An exercise may forbid library functions (``_Task.forbidden``: for
``check_grad_input``, ``convlab.conv2d_backprop_input``, ``convlab.conv2d_transpose``,
``tf.nn.conv2d_transpose``, ...): while the student's function runs they are replaced,
under every name the student's code can reach, by functions that fail the check with
``forbidden`` ("used convlab.conv2d_backprop_input, which this exercise asks you to
write"). convlab's own code still calls the originals.

In a notebook, a :class:`CheckResult` is shown as HTML, and its output also holds
:meth:`CheckResult.as_dict` as JSON under :data:`MIME_TYPE`
(``application/vnd.convlab.check+json``), which a grader reads: ``checker``,
``passed``, ``diagnosis``, ``message``, ``case`` and ``cases``. Long lines of the
message wrap at word boundaries.

Diagnosis codes (:data:`DIAGNOSES`):

``ok``
    every case agrees with the reference.
``not_implemented``
    the function raised ``NotImplementedError`` (the stub is still there).
``exception``
    the function raised another exception; the message shows it and the case.
``no_return``
    the function returned ``None``.
``timeout``
    the function did not return within the time limit (:data:`TIMEOUT` seconds a case).
``exit``
    the function ended the process running it: ``sys.exit()``, ``exit()``, a raised
    ``SystemExit`` or ``os._exit()``.
``crash``
    the process running the function was killed by a signal (a crash in compiled code, or
    the memory ran out).
``forbidden``
    the function called a library function that the exercise asks the student to write
    (``convlab.conv2d_backprop_input`` in ``check_grad_input``, ...).
``not_a_function``
    what was passed to the checker cannot be called.
``wrong_type``
    the result is not what was asked: not an array of real numbers (a bool array, a
    string, ragged lists, something ``np.asarray`` cannot read), or, for a size, not a
    plain ``int`` (a float, a bool, an ``int`` subclass).
``complex_result``
    the result is complex, even where its real part is right.
``object_result``
    the result is an array of Python objects (``dtype=object``).
``nan_result``
    the result holds NaN or infinity.
``wrong_shape``
    a result of the wrong shape that no known mistake explains.
``wrong_values``
    the right shape, wrong values, and no known mistake explains them.
``no_rotation``
    the filter's channel axes were swapped but it was not turned by 180 degrees.
``no_channel_swap``
    the filter was turned by 180 degrees but its in/out channel axes were not swapped.
``one_axis_flip``
    the filter was flipped along only one of H and W.
``spatial_transpose``
    the filter's H and W axes were transposed instead of turned by 180 degrees.
``flipped_kernel``
    the forward pass turned the filter by 180 degrees: a true convolution, not TF's
    cross-correlation.
``im2col_order``
    the im2col columns and the filter matrix flatten (kh, kw, c) in different orders.
``no_zero_insertion``
    ``s - 1`` zeros were not inserted between the elements of ``dy`` (the stride ignored).
``trailing_zeros``
    zeros were also added after the last element (``s * n`` long, not ``s * (n - 1) + 1``).
``zero_count``
    ``s`` zeros were inserted instead of ``s - 1``.
``strides_swapped``
    the height stride was used along the width and the other way round.
``padding_split``
    SAME's odd extra row or column went before (top/left) instead of after (bottom/right).
``no_padding``
    SAME (or explicit) padding was ignored: the input was used unpadded.
``unreached_rows``
    the rows of ``x`` that no window reached (``a = (i + pads - k) mod s``) got no place.
``batch_not_contracted``
    ``d_w`` did not sum over the batch: the single-image recipe (batch not moved into the
    contraction), only the first image, or the mean instead of the sum.
``stride_not_dilation``
    in ``d_w`` as a convolution, the forward stride was used as the stride instead of as
    the dilation.
``no_crop``
    ``d_w`` was not cropped to the filter size.
``transpose_filter_layout``
    ``conv2d_transpose``'s filter was read as ``[h, w, in, out]`` instead of
    ``[h, w, out, in]``; a ``conv2d_transpose`` computed as a conv2d whose filter was
    turned but not channel-swapped gives the same numbers, so gets this code too.
``no_dilation``
    the output size used the kernel size ``k`` instead of ``d * (k - 1) + 1``.
``dilation_convention``
    dilation counted from 0 (``d = 1`` read as one gap) or the extent taken as ``d * k``.
``rounding``
    floor and ceiling confused (VALID rounds down, SAME rounds up), or no rounding at all.
``reshape_order``
    a reshape mixed pixels and channels (or in and out channels).
``filter_transposed``
    the (C_in, C_out) filter matrix was transposed.
``pad_not_removed``
    cells numbered in the padded input: pad_before not subtracted.
``padding_cells_kept``
    cells of the padding were listed as cells of x.
``stride_dilation_swapped``
    the stride was used between taps, the dilation between windows.
``window_axes_order``
    the einsum gave the window's axes the wrong letters.
``stride_on_input``
    the input was subsampled before the windows were taken.
``stride_ignored``
    the stride was ignored: a window at every position.
``negative_padding``
    a negative total padding was not clamped at 0.
``same_stride_one``
    the stride-1 total k_eff - 1 was used with a larger stride.
``one_input_size``
    one input length given, not all stride of them.
``input_range``
    the range of input lengths is off by one at one end.
``modulo_offset``
    size % stride taken, without subtracting where the lengths start.
``valid_formula_for_same``
    VALID's (size - k) % stride used for SAME too.
``kernel_ignored``
    SAME's (size - 1) % stride used for VALID too: the kernel left out.
``counted_from_end``
    the place counted from the longest input length, not the shortest.
``pad_offset``
    the padding offset left out or subtracted: x's cell p is p + pad_before.
``window_past_end``
    windows past the last output were counted.
``forward_pads_kept``
    the forward pads were not subtracted from k_eff - 1.
``unreached_before``
    the unreached rows were padded before instead of after.
``counted_values``
    the cells that hold a value were counted, not the zeros.
``one_axis_only``
    one axis counted: the grid is L x L and its values O x O.
``no_extra_positions``
    the positions the unreached rows add (r // d) were left out.
``extra_not_divided``
    the unreached rows r were not divided by the dilation.
``span_not_taps``
    the filter's span k_eff was counted instead of its k taps.
``missing_filter_axes``
    the (C_in, C_out) matrix was returned without the 1 x 1 axes.
``product_order``
    the product was dY.T @ X (C_out x C_in), not X.T @ dY.
``layout_perms``
    the NHWC recipe was run on NCHW arrays, permutations unchanged.
``filter_layout_oihw``
    d_w came back as PyTorch's [out, in, h, w], not HWIO.
``interior_everywhere``
    every cell got the interior count; cells near the ends have fewer.
``window_length``
    a window was taken as k + 1 cells long.
``window_starts``
    only the first cell of each window was listed.
``unreached_included``
    rows that no window reaches were listed too.
``flops_not_macs``
    FLOPs counted (2 per multiply-add), not multiply-adds.
``count_no_batch``
    the count left out the batch.
``count_no_channels``
    the count left out the input or the output channels.
``input_positions``
    input positions counted instead of output positions.
``no_full_padding``
    the full padding's cells were not counted.

Examples
--------
>>> import numpy as np
>>> from convlab import exercises
>>> def rot180(w):
...     return w[::-1, ::-1]  # turned, but the channels are not swapped
>>> result = exercises.check_rot180(rot180)
>>> result.passed, result.diagnosis
(False, 'no_channel_swap')
>>> exercises.check_rot180(lambda w: np.transpose(w[::-1, ::-1], (0, 1, 3, 2))).diagnosis
'ok'
"""

from __future__ import annotations

import copy
import dataclasses
import html
import math
import numbers
import operator
import os
import sysconfig
import textwrap
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convlab import _sandbox, tolerance
from convlab.geometry import (
    effective_kernel,
    output_size,
    resolve_axis,
    same_padding,
    valid_input_sizes,
)
from convlab.reference import (
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_transpose,
)
from convlab.via_conv2d import insert_zeros, rotate180, swap_in_out

__all__ = [
    "CHECKERS",
    "DIAGNOSES",
    "CheckResult",
    "check_cell_readers",
    "check_conv2d_1x1",
    "check_conv2d_einsum",
    "check_conv2d_im2col",
    "check_conv2d_loops",
    "check_conv2d_macs",
    "check_conv2d_transpose",
    "check_coverage",
    "check_dw_positions",
    "check_full_padding",
    "check_grad_filter",
    "check_grad_filter_1x1",
    "check_grad_filter_nchw",
    "check_grad_input",
    "check_grad_input_1x1",
    "check_output_padding",
    "check_output_size",
    "check_rot180",
    "check_rows_reached",
    "check_same_padding",
    "check_valid_input_sizes",
    "check_window_cells",
    "check_zero_cells",
    "check_zero_insertion",
]

DIAGNOSES: dict[str, str] = {
    "ok": "every case agrees with convlab's reference",
    "not_implemented": "not implemented yet (the function raises NotImplementedError)",
    "exception": "the function raised an exception",
    "no_return": "the function returned None",
    "timeout": "the function did not return within the time limit",
    "exit": "the function ended the process running it (sys.exit(), exit() or os._exit())",
    "crash": "the process running the function was killed (a crash, or out of memory)",
    "forbidden": "the function called a library function that the exercise asks you to write",
    "not_a_function": "the checker was given something that is not a function",
    "wrong_type": "the result is not of the type asked for (a float array, or an int for a "
                  "size)",
    "complex_result": "the result is complex; a real result was expected",
    "object_result": "the result is an array of Python objects (dtype object), not of numbers",
    "nan_result": "the result holds NaN or infinity",
    "wrong_shape": "the result has the wrong shape",
    "wrong_values": "the right shape, but wrong values",
    "no_rotation": "the filter was not turned by 180 degrees",
    "no_channel_swap": "the filter was turned, but its in/out channels were not swapped",
    "one_axis_flip": "the filter was flipped along only one of height and width",
    "spatial_transpose": "the filter's height and width were transposed, not turned by 180°",
    "flipped_kernel": "the filter was turned by 180 degrees: a convolution, not a correlation",
    "im2col_order": "im2col columns and filter rows flatten (kh, kw, c) in different orders",
    "no_zero_insertion": "the stride's zeros were not inserted into dy",
    "trailing_zeros": "zeros were added after the last element too",
    "zero_count": "s zeros were inserted instead of s - 1",
    "strides_swapped": "the height stride was used along the width, and the other way round",
    "padding_split": "SAME's odd extra row/column went before instead of after",
    "no_padding": "the padding was ignored",
    "unreached_rows": "the rows of x that no window reached were left out",
    "batch_not_contracted": "d_w does not sum over the batch",
    "stride_not_dilation": "the forward stride was used as d_w's stride, not as its dilation",
    "no_crop": "d_w was not cropped to the filter size",
    "transpose_filter_layout": "the filter was read as [h, w, in, out], not [h, w, out, in]",
    "no_dilation": "the dilation was ignored: k used instead of d*(k-1)+1",
    "dilation_convention": "the dilation was counted from 0, or the extent taken as d*k",
    "rounding": "floor and ceiling confused, or no rounding",
    # the other exercises of the book
    "reshape_order": "a reshape mixed pixels and channels (or in and out channels)",
    "filter_transposed": "the (C_in, C_out) filter matrix was transposed",
    "pad_not_removed": "cells numbered in the padded input: pad_before not subtracted",
    "padding_cells_kept": "cells of the padding were listed as cells of x",
    "stride_dilation_swapped": "the stride was used between taps, the dilation between windows",
    "window_axes_order": "the einsum gave the window's axes the wrong letters",
    "stride_on_input": "the input was subsampled before the windows were taken",
    "stride_ignored": "the stride was ignored: a window at every position",
    "negative_padding": "a negative total padding was not clamped at 0",
    "same_stride_one": "the stride-1 total k_eff - 1 was used with a larger stride",
    "one_input_size": "one input length given, not all stride of them",
    "input_range": "the range of input lengths is off by one at one end",
    "modulo_offset": "size % stride taken, without subtracting where the lengths start",
    "valid_formula_for_same": "VALID's (size - k) % stride used for SAME too",
    "kernel_ignored": "SAME's (size - 1) % stride used for VALID too: the kernel left out",
    "counted_from_end": "the place counted from the longest input length, not the shortest",
    "pad_offset": "the padding offset left out or subtracted: x's cell p is p + pad_before",
    "window_past_end": "windows past the last output were counted",
    "forward_pads_kept": "the forward pads were not subtracted from k_eff - 1",
    "unreached_before": "the unreached rows were padded before instead of after",
    "counted_values": "the cells that hold a value were counted, not the zeros",
    "one_axis_only": "one axis counted: the grid is L x L and its values O x O",
    "no_extra_positions": "the positions the unreached rows add (r // d) were left out",
    "extra_not_divided": "the unreached rows r were not divided by the dilation",
    "span_not_taps": "the filter's span k_eff was counted instead of its k taps",
    "missing_filter_axes": "the (C_in, C_out) matrix was returned without the 1 x 1 axes",
    "product_order": "the product was dY.T @ X (C_out x C_in), not X.T @ dY",
    "layout_perms": "the NHWC recipe was run on NCHW arrays, permutations unchanged",
    "filter_layout_oihw": "d_w came back as PyTorch's [out, in, h, w], not HWIO",
    "interior_everywhere": "every cell got the interior count; cells near the ends have fewer",
    "window_length": "a window was taken as k + 1 cells long",
    "window_starts": "only the first cell of each window was listed",
    "unreached_included": "rows that no window reaches were listed too",
    "flops_not_macs": "FLOPs counted (2 per multiply-add), not multiply-adds",
    "count_no_batch": "the count left out the batch",
    "count_no_channels": "the count left out the input or the output channels",
    "input_positions": "input positions counted instead of output positions",
    "no_full_padding": "the full padding's cells were not counted",
}

_HINTS: dict[str, str] = {
    "not_implemented": "replace the line `raise NotImplementedError` with your code, then run "
                       "the cell again.",
    "exception": "read the error and the case above; print the shapes of your arrays just "
                 "before the line that fails.",
    "no_return": "the function computes something but does not `return` it.",
    "timeout": "look for a loop that never ends (a while loop whose condition never changes) "
               "or one far longer than the case needs. The limit per case is "
               "exercises.TIMEOUT seconds (or the environment variable "
               "CONVLAB_CHECK_TIMEOUT; default 10).",
    "exit": "return the result instead of ending the program; to stop with an error, raise "
            "an exception.",
    "crash": "SIGKILL usually means the memory ran out: check the sizes of the arrays you "
             "create; SIGSEGV is a crash in compiled code.",
    "forbidden": "write it yourself with numpy (and the functions the exercise names); the "
                 "library's version is what your result is checked against.",
    "not_a_function": "pass the function itself, e.g. check_rot180(rot180), not what it "
                      "returns (check_rot180(rot180(w))).",
    "wrong_type": "return a numpy array of floats (np.zeros(shape) filled in, or "
                  "np.asarray(result, dtype=float)); a size is a plain int (use // to divide).",
    "complex_result": "the gradients of real arrays are real: a complex dtype comes from "
                      "np.fft, a square root of a negative number or a 1j. Compute with real "
                      "numbers; taking .real would only hide the mistake.",
    "object_result": "an object array comes from a list of arrays of different shapes, or "
                     "of None: build the result with np.zeros(shape) and fill it in.",
    "nan_result": "NaN comes from 0/0, inf - inf or an np.empty never filled in: print the "
                  "result on the smallest case and find the first nan.",
    "wrong_shape": "compare the shape you return with the expected one, axis by axis "
                   "(NHWC for images, HWIO for filters).",
    "wrong_values": "the shape is right; check the index formula on the smallest case by "
                    "hand, one output element at a time.",
    "no_rotation": "d_x gathers dy through the filter read backwards: turn it by 180° in H "
                   "and W (w[::-1, ::-1]) as well as swapping the channel axes.",
    "no_channel_swap": "the rotated filter must map dy's channels (the forward conv's out) "
                       "to x's (its in): swap the last two axes, "
                       "np.transpose(w, (0, 1, 3, 2)). With one channel, or as many in as "
                       "out, forgetting it gives no error, only wrong numbers.",
    "one_axis_flip": "a 180° turn reverses both spatial axes: w[::-1, ::-1].",
    "spatial_transpose": "transposing H and W is not a 180° turn; reverse both axes "
                         "instead: w[::-1, ::-1].",
    "flipped_kernel": "tf.nn.conv2d is a cross-correlation: y[i, j] sums x[s*i + a, s*j + b] "
                      "* w[a, b] with the filter as it is, not turned.",
    "im2col_order": "flatten each window in the same (kh, kw, c_in) order as "
                    "w.reshape(-1, c_out); with one input channel the mistake does not show.",
    "no_zero_insertion": "with stride s, dy's neighbours are s rows apart in x: insert s - 1 "
                         "zeros between neighbouring rows and columns before the full "
                         "correlation.",
    "trailing_zeros": "zeros go only between elements: a length-n axis becomes s*(n-1) + 1 "
                      "long, not s*n.",
    "zero_count": "stride s leaves s - 1 zeros between two elements (stride 1 inserts none).",
    "strides_swapped": "strides is (s_h, s_w): s_h steps along the rows (axis 1), s_w along "
                       "the columns (axis 2).",
    "padding_split": "TensorFlow's SAME puts the odd extra row/column after: "
                     "before = total // 2, after = total - before.",
    "no_padding": "SAME pads the input with total = max((ceil(i/s) - 1)*s + k - i, 0) zeros "
                  "before any window is taken.",
    "unreached_rows": "with a stride, the last rows of the padded input may lie after the "
                      "last window: a = (i + pad_before + pad_after - k) mod s of them. They "
                      "get zero gradient: pad a more after, so d_x has exactly input_sizes "
                      "rows.",
    "batch_not_contracted": "every image contributes to d_w: sum over the batch. As one "
                            "conv2d, move the batch into the contracted axis: x as "
                            "[C_in, H, W, N] and dy as the filter [OH, OW, N, C_out].",
    "stride_not_dilation": "in d_w = conv2d(x, dy-as-filter), dy's taps are the forward "
                           "stride apart in x: use stride 1 and dilation s (the forward "
                           "stride and dilation trade places).",
    "no_crop": "keep only the first kh x kw taps: the rest of the correlation lies outside "
               "the filter.",
    "transpose_filter_layout": "conv2d_transpose's filter is [h, w, out, in] "
                               "(out = what conv2d_transpose returns): it is the same array "
                               "as the forward conv2d's HWIO filter. Do not swap its axes. "
                               "(Computed as a conv2d, the same numbers come from turning the "
                               "filter by 180° without swapping its channel axes.)",
    "no_dilation": "a filter of k taps with dilation d spans k_eff = d*(k - 1) + 1 positions; "
                   "use k_eff wherever k appears.",
    "dilation_convention": "dilation 1 means contiguous taps (TF, PyTorch, JAX): "
                           "k_eff = d*(k - 1) + 1.",
    "rounding": "VALID: floor((i - k_eff)/s) + 1 (an incomplete window is dropped); SAME: "
                "ceil(i/s). Use integer division: -(-i // s) is ceil.",
    # the other exercises of the book
    "reshape_order": "x.reshape(-1, C_in) has one pixel per row (NHWC keeps channels last) "
                     "and w.reshape(C_in, C_out) one input channel per row; reshaping to "
                     "(C_in, -1) or (C_out, C_in) scrambles them.",
    "filter_transposed": "y = X @ W with W = w[0, 0], (C_in, C_out): no transpose in the "
                         "forward pass.",
    "pad_not_removed": "cell s*i + d*a of the padded input is cell s*i + d*a - pad_before "
                       "of x.",
    "padding_cells_kept": "keep only 0 <= index < in_size: the rest are padding zeros, not "
                          "cells of x.",
    "stride_dilation_swapped": "window i starts at s*i and its taps are d apart: "
                               "s*i + d*a.",
    "window_axes_order": "sliding_window_view(x, (kh, kw), axis=(1, 2)) has axes "
                         "(n, i, j, c, a, b): the window's axes come last, after the "
                         "channel. Name them in that order.",
    "stride_on_input": "take every s-th window ([:, ::s, ::s] of the view), not the "
                       "windows of every s-th pixel.",
    "stride_ignored": "with stride s only every s-th position starts a window: window i "
                      "starts at s*i.",
    "negative_padding": "when the windows already fit, the formula goes negative: "
                        "total = max(..., 0).",
    "same_stride_one": "SAME wants ceil(i/s) outputs: total = max((ceil(i/s) - 1)*s + "
                       "k_eff - i, 0), which is k_eff - 1 only for stride 1.",
    "one_input_size": "the floor drops up to s - 1 cells: s input lengths, from "
                      "s*(o - 1) + k_eff up, give o outputs.",
    "input_range": "the first is s*(o - 1) + k_eff (the last window ends on the last "
                   "cell), the last s - 1 more.",
    "modulo_offset": "the lengths with one output start at k for VALID, at 1 for SAME: "
                     "(size - k) % stride or (size - 1) % stride.",
    "valid_formula_for_same": "SAME gives ceil(size/stride) outputs, so its lengths start "
                              "at (out - 1)*stride + 1: (size - 1) % stride.",
    "kernel_ignored": "VALID's lengths with one output start at (out - 1)*stride + k: "
                      "(size - k) % stride.",
    "counted_from_end": "output_padding counts from the shortest input length, which has "
                        "output_padding 0.",
    "pad_offset": "cell p of x is cell p + pad_before of the padded input: solve "
                  "s*i + a = p + pad_before with 0 <= a < k.",
    "window_past_end": "there are only out windows ((n - k) // s + 1 for VALID): none "
                       "starts where it would run past the end.",
    "forward_pads_kept": "full padding = (k_eff - 1 - pad_before, k_eff - 1 - pad_after "
                         "+ r): the forward pads are already there, subtract them.",
    "unreached_before": "the unreached rows r lie at the far end of the padded input: "
                        "add them after.",
    "counted_values": "count the zeros: all L*L cells minus the O*O values of dy.",
    "one_axis_only": "the grid is square: L*L cells, O*O of them values, the rest zeros.",
    "no_full_padding": "the gather reads the stretched dy with the full padding: "
                       "L = in_size + k - 1 cells per axis.",
    "no_extra_positions": "the padded x runs r rows past the last window, so d_w's "
                          "conv2d (stride d) gives k + r // d positions: crop the extra.",
    "extra_not_divided": "d_w's conv2d steps by the forward dilation d: the r extra rows "
                         "give r // d positions.",
    "span_not_taps": "d_w's conv2d steps by d, so the k_eff - 1 rows after the first tap "
                     "give k - 1 steps: k positions, plus r // d.",
    "missing_filter_axes": "a 1 x 1 filter is HWIO (1, 1, C_in, C_out): "
                           "m.reshape(1, 1, C_in, C_out).",
    "product_order": "d_w[0, 0] = X.T @ dY is (C_in, C_out) like the filter: input "
                     "channels are its rows.",
    "layout_perms": "from NCHW, x -> CHWN is np.transpose(x, (1, 2, 3, 0)), dy -> "
                    "(OH, OW, N, C_out) is np.transpose(dy, (2, 3, 0, 1)); pad axes 2, 3.",
    "filter_layout_oihw": "convlab and TensorFlow keep filters HWIO, [h, w, in, out], "
                          "whatever the data format.",
    "interior_everywhere": "count per cell: windows i < out with 0 <= p - s*i < k; near "
                           "the ends fewer windows reach.",
    "window_length": "a window covers k cells: s*i to s*i + k - 1.",
    "window_starts": "a window reads k cells, s*i + d*a - pad_before for a = 0, ..., "
                     "k - 1, not only its first.",
    "unreached_included": "the last rows may lie after the last window: "
                          "(padded - k_eff) % s of them get no gradient.",
    "flops_not_macs": "one multiply-add per output value, tap and input channel: "
                      "N*OH*OW*C_out*KH*KW*C_in. FLOPs are twice that.",
    "count_no_batch": "every image of the batch goes through every window: times N.",
    "count_no_channels": "each output value sums KH*KW*C_in products, and there are "
                         "C_out values per position.",
    "input_positions": "conv2d computes one value per output position: OH*OW, not H*W "
                       "(H*W is what the via-conv2d d_x computes).",
}

_SRC = str(Path(__file__).resolve().parent)
# where library code lives: a frame in none of these is the student's
_LIBRARY = tuple(sorted({_SRC, *(sysconfig.get_paths().get(k, "") for k in ("stdlib",
                                                                          "platstdlib"))}
                        - {""}))

#: The MIME type of a result's record in a notebook's output (see :meth:`CheckResult.as_dict`).
MIME_TYPE = "application/vnd.convlab.check+json"


# --- the result --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CheckResult:
    """What a checker found.

    Attributes
    ----------
    task : str
        The checker's name, e.g. ``"check_grad_input"``.
    passed : bool
        Every case agrees with the reference.
    diagnosis : str
        One of the codes in :data:`DIAGNOSES`.
    message : str
        The smallest failing case, expected against got (small arrays printed), and a
        hint; or, when passed, what was checked.
    case : int or None
        1-based number of the smallest failing case (None when passed).
    cases : int
        Number of cases in the check.

    In a notebook the result is shown as HTML, and its output also holds
    :meth:`as_dict` under the MIME type :data:`MIME_TYPE`, for a grader to read.
    """

    task: str
    passed: bool
    diagnosis: str
    message: str
    case: int | None = None
    cases: int = 0
    details: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def headline(self) -> str:
        """One line: the task, passed or not, and the diagnosis."""
        if self.passed:
            return f"{self.task}: passed ({self.cases} of {self.cases} cases)"
        if self.diagnosis == "not_implemented":
            return f"{self.task}: not implemented yet"
        return f"{self.task}: failed [{self.diagnosis}] {DIAGNOSES.get(self.diagnosis, '')}"

    def __str__(self) -> str:
        return f"{self.headline}\n{self.message}"

    __repr__ = __str__  # what a console shows: the whole report

    def _repr_html_(self) -> str:
        if self.passed:
            colour, mark = "#2e7d32", "&#10004;"
        elif self.diagnosis == "not_implemented":
            colour, mark = "#757575", "&#8230;"
        else:
            colour, mark = "#c62828", "&#10008;"
        return (
            f'<div class="convlab-check convlab-check-{html.escape(self.diagnosis)}" '
            f'style="border-left: 4px solid {colour}; padding: 0.3em 0.8em; '
            f'margin: 0.4em 0;">'
            f'<div style="color: {colour}; font-weight: bold;">{mark} '
            f"{html.escape(self.headline)}</div>"
            # the message is wrapped at word boundaries already; a notebook's own style
            # (word-break: break-all) would otherwise cut words at the box's edge
            f'<pre style="white-space: pre-wrap; word-break: normal; overflow-wrap: normal; '
            f'overflow-x: auto; margin: 0.3em 0 0 0; background: none; border: none; '
            f'padding: 0;">{html.escape(self.message)}</pre></div>'
        )

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data, for a grader: the keys are fixed.

        Returns
        -------
        dict
            ``{"checker", "passed", "diagnosis", "message", "case", "cases"}``:
            ``checker`` is the key of :data:`CHECKERS` (``"grad_input"`` for
            ``check_grad_input``), ``message`` the plain text, ``case`` the 1-based
            smallest failing case or None.
        """
        checker = next((key for key, check in CHECKERS.items()
                        if getattr(check, "__name__", None) == self.task),
                       self.task.removeprefix("check_"))
        return {"checker": checker, "passed": bool(self.passed),
                "diagnosis": str(self.diagnosis), "message": str(self.message),
                "case": None if self.case is None else int(self.case),
                "cases": int(self.cases)}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_(),
                MIME_TYPE: self.as_dict()}

    def raise_if_failed(self) -> CheckResult:
        """Return ``self`` if passed; raise ``AssertionError`` with the text otherwise."""
        if not self.passed:
            raise AssertionError(str(self))
        return self


# --- showing arrays ----------------------------------------------------------------------


def _fmt_array(a: np.ndarray) -> str:
    if a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.abs(a).max() < 1e9:
        a = a.astype(np.int64)
    return np.array2string(a, precision=4, suppress_small=True, max_line_width=88)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def _slice(a: np.ndarray, layout: str, p: int, q: int) -> tuple[str, np.ndarray]:
    """The H x W slice at positions ``p``, ``q`` of the two non-spatial axes."""
    if layout == "hwio":
        return f"[:, :, {p}, {q}]", a[:, :, p, q]
    return f"[{p}, :, :, {q}]", a[p, :, :, q]


def _show(name: str, value: Any, layout: str = "",
          focus: tuple[int, ...] | None = None) -> str:
    """Print ``value`` for a message: 4-D arrays as H x W slices, only a few of them.

    ``focus`` (an index into the array) picks the one slice to show.
    """
    if isinstance(value, str | numbers.Number | tuple) or value is None:
        return f"{name} = {value!r}"
    a = np.asarray(value)
    if a.ndim != 4 or layout not in ("nhwc", "hwio"):
        if a.size <= 64:
            return f"{name} (shape {a.shape}) =\n{_indent(_fmt_array(a))}"
        return f"{name}: shape {a.shape} (too large to print)"
    outer = (0, 3) if layout == "nhwc" else (2, 3)
    pairs = list(np.ndindex(a.shape[outer[0]], a.shape[outer[1]]))
    if focus is not None:
        pairs = [(focus[outer[0]], focus[outer[1]])]
    if a.shape[1 if layout == "nhwc" else 0] * a.shape[2 if layout == "nhwc" else 1] > 100:
        return f"{name}: shape {a.shape} (too large to print)"
    shown = pairs if len(pairs) <= 4 else pairs[:1]
    lines = []
    for p, q in shown:
        where, part = _slice(a, layout, p, q)
        lines.append(f"{name}{where} =\n{_indent(_fmt_array(part))}")
    if len(pairs) > 1 or focus is not None:
        note = ("the slice with the largest difference" if focus is not None else
                f"{len(shown)} of {len(pairs)} slices" if len(shown) < len(pairs) else
                f"all {len(pairs)} slices")
        lines.insert(0, f"{name}: shape {a.shape}; {note}:")
        return "\n".join([lines[0], *(_indent(x, "  ") for x in lines[1:])])
    return lines[0]


# --- cases and tasks ---------------------------------------------------------------------


@dataclass
class _Case:
    label: str                    # the case in one line: shapes, strides, padding
    args: tuple[Any, ...]         # positional arguments of the student's function
    shown: list[tuple[str, Any, str]]  # (name, value, layout) of the inputs to print
    expected: Any


@dataclass
class _Task:
    name: str
    signature: str
    make_cases: Callable[[], list[_Case]]
    variants: list[tuple[str, Callable[..., Any]]]  # (code, wrong function) by priority
    layout: str = "nhwc"          # how to print the result
    scalar: bool = False          # the result is one int (output_size)
    # dotted names of the library functions that would pass the exercise for the student
    # ("convlab.conv2d_backprop_input", "tf.nn.conv2d_transpose"): replaced while it runs
    forbidden: tuple[str, ...] = ()
    timeout: float | None = None  # seconds a case; None: TIMEOUT


def _ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Small integers as float64: exact sums, readable when printed."""
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _counting(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)


# (x shape, w shape HWIO, strides, padding): small first, then channels, SAME, batch
_CONV_CASES: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int], str]] = [
    ((1, 3, 3, 1), (2, 2, 1, 1), (1, 1), "VALID"),
    ((1, 5, 5, 1), (3, 3, 1, 1), (2, 2), "VALID"),
    ((1, 6, 6, 1), (3, 3, 1, 1), (2, 2), "VALID"),  # the last row is reached by no window
    ((1, 4, 4, 2), (3, 3, 2, 2), (1, 1), "VALID"),  # as many channels in as out
    ((1, 5, 4, 2), (2, 3, 2, 3), (1, 1), "VALID"),  # 2 in, 3 out, a 2 x 3 filter
    ((1, 6, 6, 1), (3, 3, 1, 1), (2, 2), "SAME"),   # total padding 1: (0, 1)
    ((1, 5, 5, 2), (2, 2, 2, 2), (1, 1), "SAME"),   # even filter: (0, 1)
    ((1, 7, 8, 2), (3, 3, 2, 3), (2, 3), "SAME"),   # different strides; W pads (0, 1)
    ((2, 5, 5, 2), (3, 3, 2, 2), (1, 1), "VALID"),  # 2 images, 2 channels in
    ((3, 6, 7, 2), (3, 2, 2, 4), (2, 2), "SAME"),   # 3 images, everything at once
]


def _conv_inputs(seed: int) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int], str,
                                          np.ndarray]]:
    """``(x, w, strides, padding, dy)`` for each of the shared conv cases."""
    rng = np.random.default_rng(seed)
    out = []
    for index, (xs, ws, s, p) in enumerate(_CONV_CASES):
        if index == 0:
            x, w = _counting(xs), _counting(ws)
        else:
            x, w = _ints(rng, xs), _ints(rng, ws)
        y_shape = conv2d(x, w, s, p).shape
        dy = _counting(y_shape) if index == 0 else _ints(rng, y_shape)
        out.append((x, w, s, p, dy))
    return out


def _label(**parts: Any) -> str:
    return ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}"
                     for k, v in parts.items())


# --- the known mistakes, computed -----------------------------------------------------------


def _pads(size: int, k: int, s: int, padding: Any, before: bool = False) -> tuple[int, int]:
    """(before, after) padding along one axis; ``before=True`` puts SAME's extra row first."""
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        b, a = same_padding(size, k, s)
        return (a, b) if before else (b, a)
    return (int(padding[0]), int(padding[1]))


def _pad_or_crop(a: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    (t, b), (left, r) = pads
    a = np.pad(a, ((0, 0), (max(t, 0), max(b, 0)), (max(left, 0), max(r, 0)), (0, 0)))
    h, w = a.shape[1:3]
    return a[:, max(-t, 0):h - max(-b, 0), max(-left, 0):w - max(-r, 0)]


def _forward(x: np.ndarray, w: np.ndarray, strides: tuple[int, int], padding: str, *,
             before: bool = False, flip: bool = False, pad: bool = True,
             swap_strides: bool = False) -> np.ndarray:
    s = (strides[1], strides[0]) if swap_strides else strides
    pads = [_pads(x.shape[i + 1], w.shape[i], s[i], padding if pad else "VALID", before)
            for i in (0, 1)]
    return conv2d(x, w[::-1, ::-1] if flip else w, s, [list(p) for p in pads])


def _im2col_cols_cab(x: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                     padding: str) -> np.ndarray:
    """Windows flattened (c, a, b), filter rows (a, b, c)."""
    kh, kw, c_in, c_out = w.shape
    w_eff = w.reshape(c_in, kh, kw, c_out).transpose(1, 2, 0, 3)
    return conv2d(x, w_eff, strides, padding)


def _im2col_rows_cab(x: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                     padding: str) -> np.ndarray:
    """Windows flattened (a, b, c), filter rows (c, a, b)."""
    kh, kw, c_in, c_out = w.shape
    w_eff = w.transpose(2, 0, 1, 3).reshape(kh, kw, c_in, c_out)
    return conv2d(x, w_eff, strides, padding)


def _stretch(dy: np.ndarray, strides: tuple[int, int], *, extra: int = 0,
             trailing: bool = False) -> np.ndarray:
    """Insert ``s - 1 + extra`` zeros between elements (and after the last if trailing)."""
    sh, sw = strides[0] + extra, strides[1] + extra
    n, oh, ow, c = dy.shape
    h = sh * oh if trailing else sh * (oh - 1) + 1
    w = sw * ow if trailing else sw * (ow - 1) + 1
    out = np.zeros((n, h, w, c))
    out[:, ::sh, ::sw] = dy
    return out


def _grad_input(input_sizes: Sequence[int], w: np.ndarray, dy: np.ndarray,
                strides: tuple[int, int], padding: str, *, rotate: bool = True,
                swap: bool = True, zeros: bool = True, before: bool = False,
                unreached: bool = True) -> np.ndarray:
    """``d_x`` as one stride-1 conv2d, with one step optionally done wrong."""
    sizes = (int(input_sizes[1]), int(input_sizes[2]))
    if zeros:
        dy = _stretch(dy, strides)
    pads = []
    for i in (0, 1):
        k, s = w.shape[i], strides[i]
        b, a = _pads(sizes[i], k, s, padding, before)
        rest = (sizes[i] + b + a - k) % s if unreached else 0
        pads.append((k - 1 - b, k - 1 - a + rest))
    kernel = w[::-1, ::-1] if rotate else w
    if swap:
        kernel = kernel.transpose(0, 1, 3, 2)
    return conv2d(_pad_or_crop(dy, pads), kernel, 1, "VALID")


def _grad_filter(x: np.ndarray, filter_sizes: Sequence[int], dy: np.ndarray,
                 strides: tuple[int, int], padding: str, *, before: bool = False,
                 pad: bool = True, contract_batch: bool = True, trade: bool = True,
                 crop: bool = True) -> np.ndarray:
    """``d_w`` as one conv2d of ``x`` with ``dy`` as the filter, one step optionally wrong."""
    kh, kw = int(filter_sizes[0]), int(filter_sizes[1])
    pads = [_pads(x.shape[i + 1], (kh, kw)[i], strides[i], padding if pad else "VALID", before)
            for i in (0, 1)]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    xc = xp.transpose(3, 1, 2, 0) if contract_batch else xp  # the single-image recipe: not
    f = dy.transpose(1, 2, 0, 3)
    if trade:
        r = conv2d(xc, f, 1, "VALID", dilations=strides)
    else:
        r = conv2d(xc, f, strides, "VALID")
    if crop:
        r = r[:, :kh, :kw]
    return r.transpose(1, 2, 0, 3)


def _swap_args(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A ``grad_input``-style variant called with ``conv2d_transpose``'s arguments."""
    def variant(dy: Any, w: Any, output_shape: Any, strides: Any, padding: Any) -> np.ndarray:
        return fn(output_shape, w, dy, strides, padding)
    return variant


# --- running a check ---------------------------------------------------------------------

#: Seconds each case of a check may take. None: the environment variable
#: ``CONVLAB_CHECK_TIMEOUT`` if set, else 10. 0: no limit, and the student's function runs
#: in this process (where forking is unsafe, e.g. a kernel whose TensorFlow has started).
TIMEOUT: float | None = None

_DEFAULT_TIMEOUT = 10.0
_WIDTH = 88  # the width that messages wrap at
_STOPS = ("not_implemented", "forbidden")  # outcomes after which no further case runs


def _time_limit(value: Any) -> float | None:
    """Seconds a case from ``value``, :data:`TIMEOUT` or the environment; None: no limit."""
    source = "timeout"
    if value is None:
        value, source = TIMEOUT, "exercises.TIMEOUT"
    if value is None:
        text = os.environ.get("CONVLAB_CHECK_TIMEOUT", "").strip()
        if not text:
            return _DEFAULT_TIMEOUT
        source = "CONVLAB_CHECK_TIMEOUT"
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{source} must be a non-negative number of seconds (0: no "
                             f"limit); got {text!r}") from None
    accepted = f"{source} must be a non-negative number of seconds (0: no limit)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{accepted}; got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float: no limit in practice
        seconds = math.inf
    if not seconds >= 0:  # NaN too
        raise ValueError(f"{accepted}; got {value!r}")
    return None if seconds == 0 or math.isinf(seconds) else seconds


def _wrap(text: str, indent: str = "      ") -> str:
    """Wrap each line of prose at word boundaries, never inside a word."""
    return "\n".join(
        textwrap.fill(line, _WIDTH, subsequent_indent=indent, break_long_words=False,
                      break_on_hyphens=False) if len(line) > _WIDTH else line
        for line in text.split("\n"))


def _hint(code: str) -> str:
    return _wrap(f"hint: {_HINTS[code]}")


@dataclass
class _Outcome:
    """What the student's function did on one case, as plain data (sent from the child)."""

    kind: str  # value, big, none, invalid, raised, not_implemented or forbidden
    value: Any = None  # value: a C-contiguous float64 array, or a plain int or float (sizes)
    code: str = ""  # invalid and raised: the diagnosis
    text: str = ""  # what was returned or raised, for the message
    where: str = ""  # raised: the line of the student's code that raised
    helper: str = ""  # not_implemented: the stub it came from, when not the function itself
    shape: tuple[int, ...] | None = None  # big: the shape of an array too large to send


@dataclass(frozen=True)
class _Oversized:
    """An array too large to send back from the child: its shape only."""

    shape: tuple[int, ...]


def _quiet(call: Callable[[], Any], default: Any) -> Any:
    """``call()``, or ``default`` where the student's objects make it raise anything."""
    try:
        return call()
    except KeyboardInterrupt:
        raise
    except BaseException:
        return default


def _type_name(value: Any) -> str:
    return _quiet(lambda: str(type(value).__name__), "object")


def _a(value: Any) -> str:
    """``"a dict"``, ``"an Arr"``: the type of ``value`` with its article."""
    name = _type_name(value)
    return f"{'an' if name[:1] in tuple('aeiouAEIOU') else 'a'} {name}"


def _safe_repr(value: Any, most: int = 200) -> str:
    text = _quiet(lambda: repr(value), None)
    if not isinstance(text, str):
        return f"<{_a(value)} that cannot be printed>"
    text = " ".join(text[:4 * most].split())  # one line: an array's repr has several
    return text if len(text) <= most else text[:most - 4] + " ..."


def _error_text(err: BaseException) -> str:
    """``"KeyError: 'x'"``, even for an exception whose ``__str__`` raises."""
    name = _type_name(err)
    text = _quiet(lambda: str(err), None)
    if not isinstance(text, str):
        return f"{name} (its message cannot be shown: str() of it raised an exception)"
    if len(text) > 2000:
        text = text[:2000] + " ..."
    return f"{name}: {text}" if text else name


def _mine(frame: traceback.FrameSummary) -> bool:
    """Whether a traceback frame is in the student's code, not a library's."""
    name = frame.filename
    return not (name.startswith(_LIBRARY) or "site-packages" in name
                or "dist-packages" in name)


def _stub_helper(err: BaseException) -> str | None:
    """Where a NotImplementedError came from: "" the checked function itself, a helper's
    name where a function it calls is the stub, None where library code raised it."""
    frames = traceback.extract_tb(err.__traceback__)[1:]
    if not frames:
        return ""
    if not _mine(frames[-1]):
        return None
    named = [f for f in frames if _mine(f) and not f.name.startswith("<")]
    if not named or (named[-1].filename, named[-1].name) == (frames[0].filename,
                                                              frames[0].name):
        return ""
    return named[-1].name


def _raised(err: BaseException) -> _Outcome:
    """What the student's function raised, as text (the exception stays in the child)."""
    if isinstance(err, NotImplementedError):
        helper = _quiet(lambda: _stub_helper(err), "")
        if helper is not None:
            message = _quiet(lambda: str(err), "")
            return _Outcome("not_implemented", text=message if isinstance(message, str)
                            else "", helper=helper)
    code = "exit" if isinstance(err, SystemExit) else "exception"
    return _Outcome("raised", code=code, text=_error_text(err),
                    where=_quiet(lambda: _where(err), ""))


def _caught(err: BaseException) -> _Outcome:
    try:
        return _raised(err)
    except KeyboardInterrupt:
        raise
    except BaseException:  # e.g. an exception whose __class__ raises
        return _Outcome("raised", code="exception", text="an exception that cannot be shown")


def _as_array(value: Any, expected: Any) -> _Outcome:
    a = np.asarray(value)
    kind, shape = a.dtype.kind, tuple(int(n) for n in a.shape)
    if kind == "c":
        return _Outcome("invalid", code="complex_result", shape=shape,
                        text=f"a complex array (dtype {a.dtype}, shape {shape})")
    if kind == "O" and a.ndim > 0:
        return _Outcome("invalid", code="object_result", shape=shape,
                        text=f"an array of Python objects (dtype object, shape {shape}): "
                             f"{_safe_repr(value)}")
    if kind == "O":
        return _Outcome("invalid", code="wrong_type",
                        text=f"{_a(value)}, not an array: {_safe_repr(value)}")
    if kind not in "iuf":
        what = "booleans" if kind == "b" else f"dtype {a.dtype}"
        return _Outcome("invalid", code="wrong_type", shape=shape,
                        text=f"an array of {what} (shape {shape}), not of numbers: "
                             f"{_safe_repr(value)}")
    if a.size > max(64 * int(np.size(expected)), 1 << 16):
        return _Outcome("big", shape=shape, text=f"dtype {a.dtype}")
    return _Outcome("value", value=np.array(a, dtype=np.float64, order="C"))


def _as_size(value: Any) -> _Outcome:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_):
        return _Outcome("invalid", code="wrong_type", text=f"a bool ({value!r}), not an int")
    if isinstance(value, np.integer):
        value = operator.index(value)
    if type(value) is int:
        return _Outcome("value", value=value)
    if isinstance(value, complex | np.complexfloating):
        return _Outcome("invalid", code="complex_result",
                        text=f"a complex number: {_safe_repr(value)}")
    if type(value) is float or isinstance(value, np.floating):
        number = float(value)
        if not math.isfinite(number):
            return _Outcome("invalid", code="nan_result", text=f"{number!r}")
        return _Outcome("value", value=number)
    if isinstance(value, int):  # a subclass: its == and int() may say anything
        return _Outcome("invalid", code="wrong_type",
                        text=f"{_a(value)} (a subclass of int), not a plain int")
    return _Outcome("invalid", code="wrong_type",
                    text=f"{_a(value)}, not an int: {_safe_repr(value)}")


def _convert(value: Any, scalar: bool, expected: Any) -> _Outcome:
    """Check a result and turn it into plain data (in the child: nothing of the student's
    object goes back)."""
    if value is None:
        return _Outcome("none")
    try:
        return _as_size(value) if scalar else _as_array(value, expected)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        return _Outcome("invalid", code="wrong_type",
                        text=f"{_a(value)} that could not be read as "
                             f"{'an int' if scalar else 'an array'} ({_error_text(err)}): "
                             f"{_safe_repr(value)}")


def _attempt(task: _Task, fn: Callable[..., Any], case: _Case,
             guard: _sandbox.Forbidder | None) -> _Outcome:
    """Run the student's function on one case and check what it returned (in the child)."""
    if guard is not None:
        name = guard.named(fn)
        if name is not None:
            return _Outcome("forbidden", text=name)
        guard.used = None
    args = copy.deepcopy(case.args)  # a function that changes its inputs changes a copy
    try:
        value = fn(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        outcome = _caught(err)
    else:
        outcome = _convert(value, task.scalar, case.expected)
    if guard is not None and guard.used is not None:
        return _Outcome("forbidden", text=guard.used)
    return outcome


def _plain(value: Any) -> int | float | None:
    """A number of a size task as a plain int or float; None for anything else."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return None


def _as_result(value: Any, scalar: bool) -> Any:
    """A known mistake's output (trusted code) as the student's results are compared."""
    if scalar:
        number = _plain(value.item() if isinstance(value, np.ndarray) and value.shape == ()
                        else value)
        if number is None:
            raise TypeError(f"expected one int, got {type(value).__name__}: {value!r}")
        return number
    return np.asarray(value, dtype=np.float64)


def _agrees(got: Any, ref: Any, scalar: bool) -> bool:
    if got is None or ref is None or isinstance(got, _Oversized) or isinstance(ref, _Oversized):
        return False
    if scalar:
        a, b = _plain(got), _plain(ref)
        return a is not None and b is not None and a == b
    if np.shape(got) != np.shape(ref):
        return False
    _, rel = tolerance.errors(got, ref)
    return bool(np.isfinite(rel)) and rel <= tolerance.rtol("float64")


def _shape(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, _Oversized):
        return value.shape
    return None if value is None else tuple(np.shape(value))


def _where(exc: BaseException) -> str:
    """The last line of the student's own code in the traceback, if any."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    mine = [f for f in frames if _mine(f)]
    if not mine:
        return ""
    f = mine[-1]
    line = f" :  {f.line.strip()}" if f.line else ""
    return f"\n  raised at line {f.lineno} of {f.name}(){line}"


def _run(task: _Task, fn: Callable[..., Any], timeout: float | None = None) -> CheckResult:
    """Run ``fn`` on every case of ``task`` (in a child process) and diagnose the results.

    ``timeout`` is the seconds a case may take (default ``task.timeout``, else
    :data:`TIMEOUT`); a bad value raises ``TypeError``/``ValueError``. Nothing the
    student's function does or returns makes this raise (``KeyboardInterrupt`` aside).
    """
    cases = task.make_cases()
    total = len(cases)
    limit = _time_limit(timeout if timeout is not None else task.timeout)
    if not callable(fn):
        msg = "\n".join((task.signature, _wrap(f"the checker was given {_safe_repr(fn)}, "
                         f"{_a(fn)}, not a function."), _hint("not_a_function")))
        return CheckResult(task.name, False, "not_a_function", msg, None, total)
    guard = _sandbox.Forbidder(task.forbidden, fn) if task.forbidden else None

    def work(k: int) -> _Outcome:
        return _attempt(task, fn, cases[k], guard)

    run = _sandbox.run(work, total, limit, prepare=guard.apply if guard else None,
                       cleanup=guard.restore if guard else None,
                       last=lambda outcome: outcome.kind in _STOPS)
    result = _judge(task, cases, run, limit)
    notes = []
    if run.stop is not None and result.case is not None and result.case <= len(run.results):
        notes.append(f"note: on case {len(run.results) + 1}, {_stop_text(run, limit)}; the "
                     "cases after it were not run.")
    if run.note:
        notes.append(f"note: {run.note}.")
    if notes:
        result = dataclasses.replace(result, message="\n".join(
            [result.message, *(_wrap(n) for n in notes)]))
    return result


def _judge(task: _Task, cases: list[_Case], run: _sandbox.Run, limit: float | None
           ) -> CheckResult:
    """The result of a check from what the student's function did on each case."""
    outcomes: list[_Outcome] = run.results
    total, ran = len(cases), len(outcomes)
    got: list[Any] = [o.value if o.kind == "value" else
                      _Oversized(o.shape or ()) if o.kind == "big" else None for o in outcomes]
    got += [None] * (total - ran)
    for index, outcome in enumerate(outcomes):
        if outcome.kind == "forbidden":
            # one line, not wrapped: the sentence a grader or a student searches for
            msg = "\n".join((_case_head(task, cases, index), f"your function used "
                             f"{outcome.text}, which this exercise asks you to write.",
                             _hint("forbidden")))
            return CheckResult(task.name, False, "forbidden", msg, index + 1, total,
                               {"used": outcome.text})
        if outcome.kind == "not_implemented":
            return _not_implemented(task, cases, index, outcome)
    first = next((i for i in range(ran) if outcomes[i].kind != "value"
                  or not _agrees(got[i], cases[i].expected, task.scalar)), None)
    if first is None and run.stop is not None:
        first = ran
    if first is None:
        floats = [i for i in range(ran) if task.scalar and type(got[i]) is not int]
        if floats:  # every size right, but not every one an int
            i = floats[0]
            msg = "\n".join(x for x in (
                _case_head(task, cases, i),
                f"your function returned {got[i]!r}, a float: the size is right, but sizes "
                "are ints.", _inputs(cases[i]), _hint("wrong_type")) if x)
            return CheckResult(task.name, False, "wrong_type", msg, i + 1, total)
        return CheckResult(task.name, True, "ok", _passed_message(cases), None, total)
    if first == ran:
        return _stopped(task, cases, run, limit)
    return _failed(task, cases, outcomes, got, first)


def _stop_text(run: _sandbox.Run, limit: float | None) -> str:
    """What stopped the run, as a clause: "your function did not return within 2 s"."""
    if run.stop == "timeout":
        return f"your function did not return within {limit:g} s"
    if run.stop == "died":
        code = run.exitcode
        if code is None or code >= 0:
            return (f"your function ended the process running it (exit status {code}, as "
                    f"os._exit({code}) does)")
        return f"the process running your function was killed by {_sandbox.signal_name(code)}"
    return "the checker failed while running your function"


def _stopped(task: _Task, cases: list[_Case], run: _sandbox.Run, limit: float | None
             ) -> CheckResult:
    """The case that ran past the limit, or during which the child process died."""
    index = len(run.results)
    case = cases[index]
    if run.stop == "timeout":
        code = "timeout"
        what = f"your function did not return within {limit:g} s on case {index + 1}."
    elif run.stop == "died" and (run.exitcode is None or run.exitcode >= 0):
        code = "exit"
        what = (f"your function ended the process running it on case {index + 1} (exit "
                f"status {run.exitcode}, as os._exit({run.exitcode}) does).")
    elif run.stop == "died":
        code = "crash"
        what = (f"the process running your function was killed by "
                f"{_sandbox.signal_name(run.exitcode or 0)} on case {index + 1}.")
    else:
        code = "crash"
        what = ("the checker failed while running your function (a bug in convlab: please "
                f"report it):\n{_indent(run.text.strip())}")
    msg = "\n".join(x for x in (_case_head(task, cases, index), _wrap(what), _inputs(case),
                                "" if run.stop == "internal" else _hint(code)) if x)
    return CheckResult(task.name, False, code, msg, index + 1, len(cases))


def _failed(task: _Task, cases: list[_Case], outcomes: list[_Outcome], got: list[Any],
            first: int) -> CheckResult:
    """The diagnosis of the smallest failing case, a case that returned or raised."""
    total = len(cases)
    case, outcome = cases[first], outcomes[first]
    head = _case_head(task, cases, first)
    if outcome.kind == "raised":
        text = f"{outcome.text}{outcome.where}"
        msg = "\n".join(x for x in (head, f"your function raised\n  {text}", _inputs(case)) if x)
        if outcome.code == "exit":
            return CheckResult(task.name, False, "exit", f"{msg}\n{_hint('exit')}", first + 1,
                               total, {"error": outcome.text})
        # a mistake that fails loudly on some shapes is often silent on others
        later = [i for i in range(first + 1, total)
                 if got[i] is not None and not _agrees(got[i], cases[i].expected, task.scalar)]
        code = _diagnose(task, cases, got, later[0]) if later else "exception"
        if code in ("wrong_shape", "wrong_values", "nan_result", "exception"):
            msg += f"\n{_hint('exception')}"
            return CheckResult(task.name, False, "exception", msg, first + 1, total,
                               {"error": outcome.text})
        msg += "\n" + _wrap(f"case {later[0] + 1} runs, but returns exactly what this known "
                            f"mistake gives: {DIAGNOSES[code]} ({cases[later[0]].label}).")
        msg += f"\n{_hint(code)}"
        return CheckResult(task.name, False, code, msg, first + 1, total,
                           {"error": outcome.text})
    if outcome.kind == "none":
        msg = f"{head}\nyour function returned None.\n{_hint('no_return')}"
        return CheckResult(task.name, False, "no_return", msg, first + 1, total)
    if outcome.kind == "invalid":
        msg = "\n".join(x for x in (head, _wrap(f"your function returned {outcome.text}"),
                                    _inputs(case), _hint(outcome.code)) if x)
        return CheckResult(task.name, False, outcome.code, msg, first + 1, total)
    code = _diagnose(task, cases, got, first)
    msg = _mismatch_message(task, case, head, got[first], code)
    return CheckResult(task.name, False, code, msg, first + 1, total)


def _variant_output(fn: Callable[..., Any], case: _Case, scalar: bool) -> Any:
    try:
        value = fn(*copy.deepcopy(case.args))
        return None if value is None else _as_result(value, scalar)
    except Exception:  # the mistake cannot even be made on this case
        return None


def _diagnose(task: _Task, cases: list[_Case], got: list[Any], first: int) -> str:
    """Name the known mistake whose outputs match the student's, or a generic code."""
    best: tuple[int, int] | None = None
    best_code = ""
    for order, (code, fn) in enumerate(task.variants):
        if not _agrees(got[first], _variant_output(fn, cases[first], task.scalar), task.scalar):
            continue
        outs = [_variant_output(fn, c, task.scalar) if got[i] is not None else None
                for i, c in enumerate(cases)]
        score = sum(_agrees(got[i], outs[i], task.scalar)
                    for i in range(len(cases)) if got[i] is not None)
        # the mistake must explain most of the cases the student gets wrong, not just one
        wrong = [i for i in range(len(cases)) if got[i] is not None and outs[i] is not None
                 and not _agrees(got[i], cases[i].expected, task.scalar)]
        if 2 * sum(_agrees(got[i], outs[i], task.scalar) for i in wrong) < len(wrong):
            continue
        if best is None or (score, -order) > best:
            best, best_code = (score, -order), code
    if best is not None:
        return best_code
    expected = cases[first].expected
    if task.scalar or _shape(got[first]) == _shape(expected):
        if not task.scalar and not np.all(np.isfinite(got[first])):
            return "nan_result"
        return "wrong_values"
    for code, fn in task.variants:  # a wrong shape that a known mistake gives
        shape = _shape(_variant_output(fn, cases[first], task.scalar))
        if shape is not None and shape != _shape(expected) and shape == _shape(got[first]):
            return code
    return "wrong_shape"


def _case_head(task: _Task, cases: list[_Case], index: int) -> str:
    passed = ("" if index == 0 else
              " (case 1 passes)" if index == 1 else f" (cases 1 to {index} pass)")
    return (f"{task.signature}\n"
            f"smallest failing case: {index + 1} of {len(cases)}{passed}: {cases[index].label}")


def _inputs(case: _Case) -> str:
    if not case.shown:
        return ""
    return "inputs:\n" + "\n".join(_indent(_show(n, v, lay)) for n, v, lay in case.shown)


def _mismatch_message(task: _Task, case: _Case, head: str, got: Any, code: str) -> str:
    lines = [head, _inputs(case)] if case.shown else [head]
    if task.scalar:
        lines.append(f"expected {case.expected}, got {_safe_repr(got)}")
    elif isinstance(got, _Oversized):
        lines.append(_show("expected", case.expected, task.layout))
        lines.append(f"got an array of shape {got.shape}, too large to print")
        lines.append(f"expected shape {np.shape(case.expected)}, got {got.shape}")
    elif np.shape(got) == np.shape(case.expected):
        diff = np.abs(got - case.expected)
        where = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
        lines.append(_show("expected", case.expected, task.layout, where))
        lines.append(_show("got", got, task.layout, where))
        lines.append(f"largest difference: {_fmt_array(np.array(diff[where]))} at index "
                     f"{where} (expected {_fmt_array(np.array(case.expected[where]))}, "
                     f"got {_fmt_array(np.array(got[where]))})")
    else:
        lines.append(_show("expected", case.expected, task.layout))
        lines.append(_show("got", got, task.layout))
        lines.append(f"expected shape {np.shape(case.expected)}, got {np.shape(got)}")
    if code not in ("wrong_shape", "wrong_values"):
        lines.append(_wrap(f"diagnosis: your result is what this known mistake gives: "
                           f"{DIAGNOSES[code]}." if code != "nan_result" else
                           f"diagnosis: {DIAGNOSES[code]}."))
    lines.append(_hint(code))
    return "\n".join(lines)


def _not_implemented(task: _Task, cases: list[_Case], index: int,
                     outcome: _Outcome) -> CheckResult:
    what = f"your function calls {outcome.helper}()" if outcome.helper else ""
    if index == 0 and what:
        msg = "\n".join((task.signature, _wrap(
            f"not implemented yet: {what}, which still raises NotImplementedError: write it "
            "first, then run this cell again.")))
    elif index == 0:
        msg = f"{task.signature}\n{_wrap('not implemented yet: ' + _HINTS['not_implemented'])}"
    else:
        raiser = f"{what}, which" if what else "your function"
        msg = (f"{_case_head(task, cases, index)}\n" + _wrap(
            f"{raiser} raised NotImplementedError"
            f"{': ' + outcome.text if outcome.text else ''}: this case is not handled yet."))
    return CheckResult(task.name, False, "not_implemented", msg, index + 1, len(cases))


def _passed_message(cases: list[_Case]) -> str:
    labels = "\n".join(f"  {i + 1}. {c.label}" for i, c in enumerate(cases))
    return f"all {len(cases)} cases agree with convlab's reference:\n{labels}"


# convlab's (and TensorFlow's) own versions of what an exercise asks for, forbidden while
# the student's function runs: each would pass the exercise by itself
_FORBID_GRAD_INPUT = (
    "convlab.conv2d_backprop_input", "convlab.conv2d_transpose",
    "convlab.grad_input_via_conv2d", "convlab.definitions.conv2d_backprop_input",
    "convlab.tf.conv2d_backprop_input", "convlab.tf.conv2d_transpose", "convlab.tf.autodiff",
    "tf.compat.v1.nn.conv2d_backprop_input", "tf.compat.v1.nn.conv2d_transpose",
    "tf.nn.conv2d_transpose", "tf.raw_ops.Conv2DBackpropInput",
)
_FORBID_GRAD_FILTER = (
    "convlab.conv2d_backprop_filter", "convlab.grad_filter_via_conv2d",
    "convlab.definitions.conv2d_backprop_filter", "convlab.tf.conv2d_backprop_filter",
    "convlab.tf.autodiff", "tf.compat.v1.nn.conv2d_backprop_filter",
    "tf.raw_ops.Conv2DBackpropFilter",
)
_FORBID_CONV2D = (
    "convlab.conv2d", "convlab.conv2d_loops", "convlab.definitions.conv2d",
    "convlab.definitions.conv2d_loops", "convlab.tf.conv2d", "tf.nn.conv2d",
    "tf.compat.v1.nn.conv2d", "tf.raw_ops.Conv2D", "tf.nn.convolution",
)
_FORBID_IM2COL = (*_FORBID_CONV2D, "convlab.definitions.windows")
_FORBID_ROT180 = ("convlab.via_conv2d.rotate180", "convlab.via_conv2d.swap_in_out")
_FORBID_ZEROS = ("convlab.via_conv2d.insert_zeros",)
_FORBID_SIZE = ("convlab.output_size", "convlab.conv_geometry")


# --- the tasks -------------------------------------------------------------------------------


def _rot180_cases() -> list[_Case]:
    rng = np.random.default_rng(180)
    shapes = [(2, 2, 1, 1), (3, 3, 1, 1), (2, 3, 1, 1), (3, 3, 2, 2), (2, 3, 2, 3), (3, 3, 3, 4)]
    cases = []
    for i, shape in enumerate(shapes):
        w = _counting(shape) if i < 3 else _ints(rng, shape)
        cases.append(_Case(_label(w=shape), (w,), [("w", w, "hwio")],
                           swap_in_out(rotate180(w))))
    return cases


_ROT180 = _Task(
    "check_rot180", "fn(w): w (HWIO) turned 180° in H and W, channels swapped: [kh, kw, out, in]",
    _rot180_cases,
    [
        ("no_rotation", lambda w: w.transpose(0, 1, 3, 2)),
        ("no_channel_swap", lambda w: w[::-1, ::-1]),
        ("one_axis_flip", lambda w: w[::-1].transpose(0, 1, 3, 2)),
        ("one_axis_flip", lambda w: w[:, ::-1].transpose(0, 1, 3, 2)),
        ("one_axis_flip", lambda w: w[::-1]),
        ("one_axis_flip", lambda w: w[:, ::-1]),
        ("spatial_transpose", lambda w: w.transpose(1, 0, 3, 2)),
        ("spatial_transpose", lambda w: w.transpose(1, 0, 2, 3)),
    ],
    layout="hwio",
    forbidden=_FORBID_ROT180,
)


def _zeros_cases() -> list[_Case]:
    rng = np.random.default_rng(0)
    specs = [((1, 3, 3, 1), (2, 2)), ((1, 2, 3, 1), (3, 3)), ((1, 3, 2, 1), (1, 2)),
             ((1, 3, 4, 1), (2, 3)), ((2, 3, 3, 2), (2, 2)), ((2, 2, 2, 3), (1, 1))]
    cases = []
    for i, (shape, s) in enumerate(specs):
        dy = _counting(shape) if i < 4 else _ints(rng, shape)
        cases.append(_Case(_label(dy=shape, strides=s), (dy, s), [("dy", dy, "nhwc")],
                           insert_zeros(dy, s)))
    return cases


_ZEROS = _Task(
    "check_zero_insertion",
    "fn(dy, strides): s - 1 zeros between the elements of dy (NHWC) along H and W",
    _zeros_cases,
    [
        ("no_zero_insertion", lambda dy, s: dy),
        ("trailing_zeros", lambda dy, s: _stretch(dy, s, trailing=True)),
        ("zero_count", lambda dy, s: _stretch(dy, s, extra=1)),
        ("zero_count", lambda dy, s: _stretch(dy, s, extra=-1) if min(s) > 1 else None),
        ("strides_swapped", lambda dy, s: _stretch(dy, (s[1], s[0]))),
    ],
    forbidden=_FORBID_ZEROS,
)


def _size_cases() -> list[_Case]:
    specs: list[tuple[int, int, int, int, Any]] = [
        (5, 3, 1, 1, "VALID"), (7, 3, 2, 1, "VALID"), (8, 3, 2, 1, "VALID"),
        (7, 3, 2, 1, "SAME"), (8, 3, 2, 1, "SAME"), (9, 3, 1, 2, "VALID"),
        (10, 3, 3, 2, "SAME"), (10, 3, 2, 1, (1, 2)), (6, 2, 2, 3, (0, 1)),
    ]
    cases = []
    for i, k, s, d, p in specs:
        cases.append(_Case(_label(in_size=i, k=k, stride=s, dilation=d, padding=p),
                           (i, k, s, d, p), [], output_size(i, k, s, p, d)))
    return cases


def _size_formula(i: int, k_eff: int, s: int, padding: Any, valid_ceil: bool = False,
                  same_floor: bool = False, exact: bool = False) -> float:
    if padding == "SAME":
        return i // s if same_floor else -(-i // s)
    b, a = (0, 0) if padding == "VALID" else padding
    span = i + b + a - k_eff
    if exact:
        return span / s + 1
    return (-(-span // s) if valid_ceil else span // s) + 1


_SIZE = _Task(
    "check_output_size",
    "fn(in_size, k, stride, dilation, padding): output length along one axis",
    _size_cases,
    [
        ("no_dilation", lambda i, k, s, d, p: _size_formula(i, k, s, p)),
        ("dilation_convention",
         lambda i, k, s, d, p: _size_formula(i, (d + 1) * (k - 1) + 1, s, p)),
        ("dilation_convention", lambda i, k, s, d, p: _size_formula(i, d * k, s, p)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         valid_ceil=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         same_floor=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         valid_ceil=True, same_floor=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         exact=True)),
        ("no_padding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s,
                                                           "VALID")),
    ],
    scalar=True,
    forbidden=_FORBID_SIZE,
)


def _conv_forward_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, _ in _conv_inputs(2):
        cases.append(_Case(_label(x=x.shape, w=w.shape, strides=s, padding=p), (x, w, s, p),
                           [("x", x, "nhwc"), ("w", w, "hwio")], conv2d(x, w, s, p)))
    return cases


_FORWARD_VARIANTS: list[tuple[str, Callable[..., Any]]] = [
    ("flipped_kernel", lambda x, w, s, p: _forward(x, w, s, p, flip=True)),
    ("padding_split", lambda x, w, s, p: _forward(x, w, s, p, before=True)),
    ("no_padding", lambda x, w, s, p: _forward(x, w, s, p, pad=False)),
    ("strides_swapped", lambda x, w, s, p: _forward(x, w, s, p, swap_strides=True)),
    ("im2col_order", _im2col_cols_cab),
    ("im2col_order", _im2col_rows_cab),
]

_LOOPS = _Task(
    "check_conv2d_loops",
    "fn(x, w, strides, padding): tf.nn.conv2d (NHWC, HWIO) with loops",
    _conv_forward_cases, _FORWARD_VARIANTS, forbidden=_FORBID_CONV2D,
)

_IM2COL = _Task(
    "check_conv2d_im2col",
    "fn(x, w, strides, padding): tf.nn.conv2d (NHWC, HWIO) as im2col and one matmul",
    _conv_forward_cases, _FORWARD_VARIANTS, forbidden=_FORBID_IM2COL,
)


def _grad_filter_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(3):
        label = _label(x=x.shape, filter_sizes=w.shape, dy=dy.shape, strides=s, padding=p)
        cases.append(_Case(label, (x, w.shape, dy, s, p), [("x", x, "nhwc"), ("dy", dy, "nhwc")],
                           conv2d_backprop_filter(x, w.shape, dy, s, p)))
    return cases


_GRAD_FILTER = _Task(
    "check_grad_filter",
    "fn(x, filter_sizes, dy, strides, padding): d_w, the gradient of conv2d(x, w) for w",
    _grad_filter_cases,
    [
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, contract_batch=False)),
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x[:1], fs, dy[:1], s, p)),
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p) / len(x)),
        ("padding_split", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, before=True)),
        ("no_padding", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, pad=False)),
        ("stride_not_dilation",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, trade=False)),
        ("no_crop", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, crop=False)),
    ],
    layout="hwio",
    forbidden=_FORBID_GRAD_FILTER,
)


def _grad_input_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(4):
        label = _label(input_sizes=x.shape, w=w.shape, dy=dy.shape, strides=s, padding=p)
        cases.append(_Case(label, (x.shape, w, dy, s, p), [("w", w, "hwio"), ("dy", dy, "nhwc")],
                           conv2d_backprop_input(x.shape, w, dy, s, p)))
    return cases


_GRAD_INPUT_VARIANTS: list[tuple[str, Callable[..., Any]]] = [
    ("no_rotation", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, rotate=False)),
    ("no_channel_swap", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, swap=False)),
    ("no_zero_insertion", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, zeros=False)),
    ("padding_split", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, before=True)),
    ("unreached_rows", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, unreached=False)),
]

_GRAD_INPUT = _Task(
    "check_grad_input",
    "fn(input_sizes, w, dy, strides, padding): d_x, the gradient of conv2d(x, w) for x",
    _grad_input_cases, _GRAD_INPUT_VARIANTS, forbidden=_FORBID_GRAD_INPUT,
)


def _transpose_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(5):
        label = _label(dy=dy.shape, w=w.shape, output_shape=x.shape, strides=s, padding=p)
        cases.append(_Case(label, (dy, w, x.shape, s, p), [("dy", dy, "nhwc"), ("w", w, "hwio")],
                           conv2d_transpose(dy, w, x.shape, s, p)))
    return cases


_TRANSPOSE = _Task(
    "check_conv2d_transpose",
    "fn(dy, w, output_shape, strides, padding): tf.nn.conv2d_transpose, w as [h, w, out, in]",
    _transpose_cases,
    [
        ("transpose_filter_layout",
         lambda dy, w, o, s, p: conv2d_transpose(dy, w.transpose(0, 1, 3, 2), o, s, p)),
        # rotating without the channel swap gives the same numbers as the layout mix-up
        *[(code, _swap_args(fn)) for code, fn in _GRAD_INPUT_VARIANTS
          if code != "no_channel_swap"],
    ],
    forbidden=_FORBID_GRAD_INPUT,
)


def check_rot180(fn: Callable[[np.ndarray], Any]) -> CheckResult:
    """Check ``fn(w)``: the HWIO filter ``w`` turned 180° in H and W, channels swapped.

    The result is ``[kh, kw, out, in]``: the kernel of ``d_x`` as a convolution.
    """
    return _run(_ROT180, fn)


def check_zero_insertion(fn: Callable[[np.ndarray, tuple[int, int]], Any]) -> CheckResult:
    """Check ``fn(dy, strides)``: ``s - 1`` zeros between the elements of NHWC ``dy``.

    ``strides`` is ``(s_h, s_w)``; the result is ``(N, s_h*(OH-1)+1, s_w*(OW-1)+1, C)``.
    """
    return _run(_ZEROS, fn)


def check_output_size(fn: Callable[[int, int, int, int, Any], Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation, padding)``: one axis's output length.

    ``padding`` is ``"VALID"``, ``"SAME"`` (TensorFlow's) or ``(before, after)``.
    """
    return _run(_SIZE, fn)


def check_conv2d_loops(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, w, strides, padding)``: ``tf.nn.conv2d`` written with loops.

    ``x`` NHWC, ``w`` HWIO, ``strides`` ``(s_h, s_w)``, ``padding`` ``"VALID"``/``"SAME"``.
    """
    return _run(_LOOPS, fn)


def check_conv2d_im2col(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, w, strides, padding)``: ``tf.nn.conv2d`` as im2col and a matmul.

    Arguments as in :func:`check_conv2d_loops`.
    """
    return _run(_IM2COL, fn)


def check_grad_filter(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, filter_sizes, dy, strides, padding)``: ``conv2d_backprop_filter``.

    ``filter_sizes`` is the HWIO shape ``(kh, kw, in, out)``; the result has that shape.
    """
    return _run(_GRAD_FILTER, fn)


def check_grad_input(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(input_sizes, w, dy, strides, padding)``: ``conv2d_backprop_input``.

    ``input_sizes`` is the NHWC shape of ``x``; the result has that shape.
    """
    return _run(_GRAD_INPUT, fn)


def check_conv2d_transpose(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(dy, w, output_shape, strides, padding)``: ``tf.nn.conv2d_transpose``.

    ``w`` is ``[h, w, out, in]`` as in TensorFlow (the forward conv2d's HWIO filter);
    the result has shape ``output_shape``.
    """
    return _run(_TRANSPOSE, fn)


# --- the other exercises: windows, sizes, pads and counts -----------------------------------
# Expected values come from convlab itself: reference.conv2d on one-hot inputs says which
# window reads which cell; geometry resolves sizes and pads.


def _arr(values: Any) -> np.ndarray:
    """Integers (a list, a pair, a table of pairs) as the float64 array that is compared."""
    return np.asarray(values, dtype=np.float64)


def _reads(size: int, k: int, s: int, d: int, pads: tuple[int, int]) -> np.ndarray:
    """``r[i, p]`` is 1 where window ``i`` reads cell ``p`` of an axis of ``size`` cells."""
    one_hot = np.eye(size).reshape(size, size, 1, 1)  # image p is 1 at cell p only
    y = conv2d(one_hot, np.ones((k, 1, 1, 1)), (s, 1), [list(pads), [0, 0]],
               dilations=(d, 1))
    return y[:, :, 0, 0].T


def _axis_reads(size: int, k: int, s: int, d: int, padding: Any) -> np.ndarray:
    ax = resolve_axis(size, k, s, padding, d)
    return _reads(size, k, s, d, (ax.pad_before, ax.pad_after))


def _cells(values: Any, size: int | None = None) -> list[int]:
    """Sorted distinct cells, those in ``range(size)`` only when ``size`` is given."""
    return sorted({int(v) for v in values if size is None or 0 <= v < size})


def _conv1x1_cases() -> list[_Case]:
    rng = np.random.default_rng(11)
    specs = [((1, 2, 3, 1), 1), ((1, 3, 2, 1), 3), ((1, 3, 3, 2), 2), ((1, 2, 3, 2), 3),
             ((2, 2, 3, 3), 2), ((2, 3, 2, 3), 3), ((3, 2, 4, 2), 5)]
    cases = []
    for index, (xs, c_out) in enumerate(specs):
        ws = (1, 1, xs[3], c_out)
        x, w = (_counting(xs), _counting(ws)) if index == 0 else (_ints(rng, xs),
                                                                  _ints(rng, ws))
        cases.append(_Case(_label(x=xs, w=ws), (x, w), [("x", x, "nhwc"), ("w", w, "hwio")],
                           conv2d(x, w, 1, "VALID")))
    return cases


def _matmul_1x1(x: np.ndarray, w: np.ndarray, *, x_rows: bool = True,
                w_rows: bool = True, w_transposed: bool = False) -> np.ndarray:
    """``conv2d`` with a 1 x 1 filter as one matmul, one reshape optionally wrong."""
    n, h, wd, c_in = x.shape
    c_out = w.shape[3]
    xm = x.reshape(-1, c_in) if x_rows else x.reshape(c_in, -1).T
    wm = w.reshape(c_in, c_out) if w_rows else w.reshape(c_out, c_in).T
    if w_transposed:
        wm = w[0, 0].T
    return (xm @ wm).reshape(n, h, wd, -1)


_CONV1X1 = _Task(
    "check_conv2d_1x1",
    "fn(x, w): conv2d with a 1 x 1 filter (stride 1, VALID) as one matrix product",
    _conv1x1_cases,
    [
        ("reshape_order", lambda x, w: _matmul_1x1(x, w, x_rows=False)),
        # with C_in = C_out, w.reshape(C_out, C_in).T is w[0, 0].T: the transpose first
        ("filter_transposed", lambda x, w: _matmul_1x1(x, w, w_transposed=True)),
        ("reshape_order", lambda x, w: _matmul_1x1(x, w, w_rows=False)),
    ],
    forbidden=_FORBID_CONV2D,
)


def _window_cells_cases() -> list[_Case]:
    # (i, k, stride, dilation, pad_before, in_size); the fourth and fifth are the rows and
    # the columns of the forward pass's first example
    specs = [(0, 3, 1, 1, 0, 5), (1, 3, 2, 1, 0, 7), (2, 2, 2, 1, 1, 6), (1, 3, 2, 2, 1, 8),
             (2, 2, 2, 2, 0, 7), (0, 3, 2, 1, 1, 5), (3, 3, 2, 2, 1, 8), (1, 4, 3, 2, 2, 9)]
    cases = []
    for i, k, s, d, pb, size in specs:
        reads = _reads(size, k, s, d, (pb, k * d))  # pad after enough for window i
        cells = np.flatnonzero(reads[i])
        cases.append(_Case(_label(i=i, k=k, stride=s, dilation=d, pad_before=pb,
                                  in_size=size),
                           (i, k, s, d, pb, size), [], _arr(cells)))
    return cases


def _window_cells(i: int, k: int, s: int, d: int, pb: int, size: int, *,
                  dilate: bool = True, unpad: bool = True, inside: bool = True,
                  swap: bool = False) -> np.ndarray:
    step, gap = (d, s) if swap else (s, d if dilate else 1)
    padded = [step * i + gap * a for a in range(k)]
    if not unpad:  # the cells of x, numbered as in the padded input
        return _arr(_cells([p for p in padded if pb <= p < pb + size]))
    return _arr(_cells([p - pb for p in padded], size if inside else None))


_WINDOW_CELLS = _Task(
    "check_window_cells",
    "fn(i, k, stride, dilation, pad_before, in_size): the cells of x that window i reads "
    "along one axis, in order",
    _window_cells_cases,
    [
        ("no_dilation", lambda *a: _window_cells(*a, dilate=False)),
        ("pad_not_removed", lambda *a: _window_cells(*a, unpad=False)),
        ("padding_cells_kept", lambda *a: _window_cells(*a, inside=False)),
        ("stride_dilation_swapped", lambda *a: _window_cells(*a, swap=True)),
    ],
)


_EINSUM_SPECS: list[tuple[tuple[int, ...], tuple[int, ...], int]] = [
    ((1, 3, 3, 1), (2, 2, 1, 1), 1), ((1, 5, 5, 1), (3, 3, 1, 1), 2),
    ((1, 6, 6, 1), (3, 3, 1, 1), 2), ((1, 4, 4, 2), (3, 3, 2, 2), 1),
    ((1, 5, 5, 3), (3, 3, 3, 2), 1),  # as many channels in as filter rows and columns
    ((1, 5, 4, 2), (2, 3, 2, 3), 1), ((2, 8, 7, 3), (3, 3, 3, 5), 2),
    ((2, 7, 6, 2), (3, 2, 2, 4), 3),
]


def _einsum_cases() -> list[_Case]:
    rng = np.random.default_rng(12)
    cases = []
    for index, (xs, ws, s) in enumerate(_EINSUM_SPECS):
        x, w = (_counting(xs), _counting(ws)) if index == 0 else (_ints(rng, xs),
                                                                  _ints(rng, ws))
        cases.append(_Case(_label(x=xs, w=ws, stride=s), (x, w, s),
                           [("x", x, "nhwc"), ("w", w, "hwio")], conv2d(x, w, s, "VALID")))
    return cases


def _einsum_letters(x: np.ndarray, w: np.ndarray, s: int, letters: str) -> np.ndarray:
    """The einsum with the view's axes given ``letters`` (``"nijcab"`` is right)."""
    from numpy.lib.stride_tricks import sliding_window_view

    view = sliding_window_view(x, w.shape[:2], axis=(1, 2))[:, ::s, ::s]
    return np.einsum(f"{letters},abck->nijk", view, w)


_EINSUM = _Task(
    "check_conv2d_einsum",
    "fn(x, w, s): tf.nn.conv2d(x, w, s, 'VALID') as sliding_window_view and one einsum",
    _einsum_cases,
    [
        ("flipped_kernel", lambda x, w, s: conv2d(x, w[::-1, ::-1], s, "VALID")),
        # the view's axes are (n, i, j, c, a, b); einsum broadcasts axes of length 1, so
        # wrong letters run, silently, on one channel or a square filter
        ("window_axes_order", lambda x, w, s: _einsum_letters(x, w, s, "nijcba")),
        ("window_axes_order", lambda x, w, s: _einsum_letters(x, w, s, "nijabc")),
        ("stride_on_input", lambda x, w, s: conv2d(x[:, ::s, ::s], w, 1, "VALID")),
        ("stride_ignored", lambda x, w, s: conv2d(x, w, 1, "VALID")),
    ],
    forbidden=_FORBID_CONV2D,
)


def _same_padding_cases() -> list[_Case]:
    # (in_size, k, stride, dilation): odd totals, totals clamped at 0, dilation
    specs = [(5, 3, 1, 1), (6, 2, 1, 1), (8, 3, 2, 1), (7, 3, 2, 1), (10, 4, 3, 1),
             (10, 4, 3, 2), (8, 1, 3, 1), (4, 2, 3, 1), (7, 3, 2, 3), (11, 2, 4, 3)]
    return [_Case(_label(in_size=i, k=k, stride=s, dilation=d), (i, k, s, d), [],
                  _arr(same_padding(i, k, s, d))) for i, k, s, d in specs]


def _same_pads(i: int, k: int, s: int, d: int, *, before: bool = False,
               dilate: bool = True, clamp: bool = True, stride: bool = True,
               floor: bool = False) -> np.ndarray:
    k_eff = d * (k - 1) + 1 if dilate else k
    out = i // s if floor else -(-i // s)
    total = (out - 1) * s + k_eff - i if stride else k_eff - 1
    if clamp:
        total = max(total, 0)
    pair = (total - total // 2, total // 2) if before else (total // 2, total - total // 2)
    return _arr(pair)


_SAME_PADDING = _Task(
    "check_same_padding",
    "fn(in_size, k, stride, dilation): TensorFlow's SAME padding (before, after)",
    _same_padding_cases,
    [
        ("padding_split", lambda *a: _same_pads(*a, before=True)),
        ("no_dilation", lambda *a: _same_pads(*a, dilate=False)),
        ("negative_padding", lambda *a: _same_pads(*a, clamp=False)),
        ("same_stride_one", lambda *a: _same_pads(*a, stride=False)),
        ("rounding", lambda *a: _same_pads(*a, floor=True)),
    ],
    forbidden=("convlab.same_padding", "convlab.conv_geometry"),
)


def _valid_sizes_cases() -> list[_Case]:
    # (out_size, k, stride, dilation)
    specs = [(3, 3, 1, 1), (3, 3, 2, 1), (2, 2, 3, 1), (1, 3, 2, 1), (4, 3, 2, 2),
             (5, 1, 2, 1), (3, 2, 3, 3)]
    return [_Case(_label(out_size=o, k=k, stride=s, dilation=d), (o, k, s, d), [],
                  _arr(valid_input_sizes(o, k, s, "VALID", d))) for o, k, s, d in specs]


def _valid_sizes(o: int, k: int, s: int, d: int, *, dilate: bool = True, count: int = 0,
                 shift: int = 0) -> np.ndarray:
    first = s * (o - 1) + (d * (k - 1) + 1 if dilate else k) + shift
    return _arr(list(range(first, first + (count or s))))


_VALID_SIZES = _Task(
    "check_valid_input_sizes",
    "fn(out_size, k, stride, dilation): every input length that VALID turns into out_size "
    "outputs, smallest first",
    _valid_sizes_cases,
    [
        ("one_input_size", lambda o, k, s, d: _valid_sizes(o, k, s, d, count=1)),
        ("no_dilation", lambda o, k, s, d: _valid_sizes(o, k, s, d, dilate=False)),
        ("input_range", lambda o, k, s, d: _valid_sizes(o, k, s, d, count=s + 1)),
        ("input_range", lambda o, k, s, d: _valid_sizes(o, k, s, d, shift=1)),
        ("input_range", lambda o, k, s, d: _valid_sizes(o, k, s, d, shift=-1)),
    ],
    forbidden=("convlab.valid_input_sizes", "convlab.geometry.input_size_span"),
)


def _output_padding_cases() -> list[_Case]:
    # (size, kernel, stride, padding)
    specs = [(5, 3, 1, "VALID"), (7, 3, 2, "VALID"), (8, 3, 2, "VALID"), (8, 3, 2, "SAME"),
             (7, 3, 2, "SAME"), (10, 4, 3, "VALID"), (10, 4, 3, "SAME"), (12, 2, 3, "SAME"),
             (12, 2, 3, "VALID"), (14, 3, 4, "SAME"), (13, 3, 4, "VALID")]
    cases = []
    for size, k, s, p in specs:
        first = valid_input_sizes(output_size(size, k, s, p), k, s, p)[0]
        cases.append(_Case(_label(size=size, kernel=k, stride=s, padding=p),
                           (size, k, s, p), [], size - first))
    return cases


def _out_pad(size: int, k: int, s: int, p: str, *, offset: str = "") -> int:
    first = offset or ("k" if p == "VALID" else "1")
    return (size - {"k": k, "1": 1, "0": 0}[first]) % s


_OUTPUT_PADDING = _Task(
    "check_output_padding",
    "fn(size, kernel, stride, padding): PyTorch's output_padding, the place of size among "
    "the input lengths with the same output length",
    _output_padding_cases,
    [
        ("modulo_offset", lambda n, k, s, p: _out_pad(n, k, s, p, offset="0")),
        ("valid_formula_for_same", lambda n, k, s, p: _out_pad(n, k, s, p, offset="k")),
        ("kernel_ignored", lambda n, k, s, p: _out_pad(n, k, s, p, offset="1")),
        ("counted_from_end", lambda n, k, s, p: s - 1 - _out_pad(n, k, s, p)),
    ],
    scalar=True,
)


def _cell_readers_cases() -> list[_Case]:
    # (p, k, stride, pad_before, out_size); the fourth is the corner of four-functions'
    # picture: a 5-cell axis, 3 taps, stride 2, SAME
    specs = [(0, 2, 1, 0, 2), (1, 2, 1, 0, 2), (2, 3, 1, 0, 3), (4, 3, 2, 1, 3),
             (3, 3, 2, 1, 3), (0, 3, 2, 1, 3), (5, 4, 2, 0, 3), (6, 3, 2, 0, 3),
             (4, 3, 1, 1, 6)]
    cases = []
    for p, k, s, pb, out in specs:
        size = p + 1 + 2 * k  # long enough for every window
        pa = max(s * (out - 1) + k - size - pb, 0)
        reads = _reads(size, k, s, 1, (pb, pa))[:out]
        pairs = [(i, p + pb - s * i) for i in np.flatnonzero(reads[:, p])]
        cases.append(_Case(_label(p=p, k=k, stride=s, pad_before=pb, out_size=out),
                           (p, k, s, pb, out), [], _arr(pairs)))
    return cases


def _cell_readers(p: int, k: int, s: int, pb: int, out: int, *, shift: int = 1,
                  bounded: bool = True) -> np.ndarray:
    target = p + shift * pb
    last = out if bounded else target // s + 1
    return _arr([(i, target - s * i) for i in range(last) if 0 <= target - s * i < k])


_CELL_READERS = _Task(
    "check_cell_readers",
    "fn(p, k, stride, pad_before, out_size): the (output i, tap a) pairs whose window reads "
    "cell p of x along one axis, i ascending",
    _cell_readers_cases,
    [
        ("pad_offset", lambda *a: _cell_readers(*a, shift=0)),
        ("pad_offset", lambda *a: _cell_readers(*a, shift=-1)),
        ("window_past_end", lambda *a: _cell_readers(*a, bounded=False)),
    ],
)


def _full_padding_cases() -> list[_Case]:
    # (in_size, k, stride, dilation, padding)
    specs: list[tuple[int, int, int, int, Any]] = [
        (3, 2, 1, 1, "VALID"), (5, 3, 2, 1, "VALID"), (6, 3, 2, 1, "VALID"),
        (6, 3, 2, 1, "SAME"), (10, 4, 3, 1, "SAME"), (5, 2, 1, 1, "SAME"),
        (9, 3, 1, 2, "VALID"), (10, 3, 3, 2, "SAME"), (8, 3, 3, 2, "VALID"),
        (8, 3, 2, 1, (1, 2)), (7, 2, 2, 1, (2, 2)),
    ]
    cases = []
    for i, k, s, d, p in specs:
        ax = resolve_axis(i, k, s, p, d)
        pads = (ax.k_eff - 1 - ax.pad_before, ax.k_eff - 1 - ax.pad_after + ax.unreached)
        cases.append(_Case(_label(in_size=i, k=k, stride=s, dilation=d, padding=p),
                           (i, k, s, d, p), [], _arr(pads)))
    return cases


def _full_pads(i: int, k: int, s: int, d: int, p: Any, *, unreached: bool = True,
               before: bool = False, dilate: bool = True, subtract: bool = True,
               unreached_first: bool = False) -> np.ndarray:
    k_eff = d * (k - 1) + 1 if dilate else k
    pb, pa = _pads(i, k_eff, s, p, before)
    r = (i + pb + pa - k_eff) % s if unreached else 0
    if not subtract:
        pb = pa = 0
    if unreached_first:
        return _arr((k_eff - 1 - pb + r, k_eff - 1 - pa))
    return _arr((k_eff - 1 - pb, k_eff - 1 - pa + r))


_FULL_PADDING = _Task(
    "check_full_padding",
    "fn(in_size, k, stride, dilation, padding): the full padding (before, after) of the "
    "stretched dy",
    _full_padding_cases,
    [
        ("unreached_rows", lambda *a: _full_pads(*a, unreached=False)),
        ("padding_split", lambda *a: _full_pads(*a, before=True)),
        ("no_dilation", lambda *a: _full_pads(*a, dilate=False)),
        ("forward_pads_kept", lambda *a: _full_pads(*a, subtract=False)),
        ("unreached_before", lambda *a: _full_pads(*a, unreached_first=True)),
    ],
    forbidden=("convlab.via_conv2d.full_padding",),
)


def _grad_input_1x1_cases() -> list[_Case]:
    rng = np.random.default_rng(13)
    # (dy shape, C_in); the third has as many channels in as out
    specs = [((1, 2, 2, 1), 1), ((1, 2, 3, 2), 3), ((1, 3, 3, 2), 2), ((2, 2, 3, 4), 3),
             ((2, 3, 2, 3), 3), ((3, 2, 2, 2), 5)]
    cases = []
    for index, (dys, c_in) in enumerate(specs):
        ws = (1, 1, c_in, dys[3])
        dy, w = (_counting(dys), _counting(ws)) if index == 0 else (_ints(rng, dys),
                                                                    _ints(rng, ws))
        x_shape = (*dys[:3], c_in)
        cases.append(_Case(_label(dy=dys, w=ws), (dy, w), [("dy", dy, "nhwc"),
                                                         ("w", w, "hwio")],
                           conv2d_backprop_input(x_shape, w, dy, 1, "VALID")))
    return cases


def _dx_1x1(dy: np.ndarray, w: np.ndarray, *, swap: bool = True,
            reshape: bool = False) -> np.ndarray:
    n, h, wd, c_out = dy.shape
    c_in = w.shape[2]
    wm = w.reshape(c_out, c_in) if reshape else w[0, 0].T if swap else w[0, 0]
    return (dy.reshape(-1, c_out) @ wm).reshape(n, h, wd, -1)


_GRAD_INPUT_1X1 = _Task(
    "check_grad_input_1x1",
    "fn(dy, w): d_x of conv2d(x, w, 1, 'VALID') for a 1 x 1 filter, as one matrix product",
    _grad_input_1x1_cases,
    [
        ("no_channel_swap", lambda dy, w: _dx_1x1(dy, w, swap=False)),
        ("reshape_order", lambda dy, w: _dx_1x1(dy, w, reshape=True)),
    ],
    forbidden=_FORBID_GRAD_INPUT,
)


def _zero_cells_cases() -> list[_Case]:
    # (in_size, k, stride, padding): a square one-channel image and a square filter
    specs = [(3, 2, 1, "VALID"), (5, 3, 2, "VALID"), (6, 3, 2, "VALID"), (6, 3, 2, "SAME"),
             (7, 3, 3, "SAME"), (10, 4, 3, "VALID"), (9, 1, 2, "VALID"), (32, 3, 2, "SAME")]
    cases = []
    for i, k, s, p in specs:
        y_shape = conv2d(np.zeros((1, i, i, 1)), np.zeros((k, k, 1, 1)), s, p).shape
        dy = np.ones(y_shape)
        ax = resolve_axis(i, k, s, p)
        pad = (ax.k_eff - 1 - ax.pad_before, ax.k_eff - 1 - ax.pad_after + ax.unreached)
        grid = _pad_or_crop(insert_zeros(dy, (s, s)), [pad, pad])
        cases.append(_Case(_label(in_size=i, k=k, stride=s, padding=p), (i, k, s, p), [],
                           int(grid.size - np.count_nonzero(grid))))
    return cases


def _zero_cells(i: int, k: int, s: int, p: str, *, trailing: bool = False,
                unreached: bool = True, pad: bool = True, values: bool = False,
                square: bool = True) -> int:
    ax = resolve_axis(i, k, s, p)
    o = ax.out
    length = s * o if trailing else s * (o - 1) + 1
    if pad:
        length += 2 * (k - 1) - ax.pad_before - ax.pad_after + (ax.unreached if unreached
                                                                 else 0)
    if values:
        return o * o
    return length * length - o * o if square else length - o


_ZERO_CELLS = _Task(
    "check_zero_cells",
    "fn(in_size, k, stride, padding): the zeros of the stretched, padded dy of a square "
    "one-channel image and a square k x k filter",
    _zero_cells_cases,
    [
        ("trailing_zeros", lambda *a: _zero_cells(*a, trailing=True)),
        ("unreached_rows", lambda *a: _zero_cells(*a, unreached=False)),
        ("no_full_padding", lambda *a: _zero_cells(*a, pad=False)),
        ("counted_values", lambda *a: _zero_cells(*a, values=True)),
        ("one_axis_only", lambda *a: _zero_cells(*a, square=False)),
    ],
    scalar=True,
)


def _dw_positions_cases() -> list[_Case]:
    # (in_size, k, stride, dilation, padding); the fourth and fifth are filter-gradient's
    specs: list[tuple[int, int, int, int, Any]] = [
        (5, 2, 1, 1, "VALID"), (5, 3, 2, 1, "VALID"), (6, 3, 2, 1, "VALID"),
        (13, 3, 4, 2, "VALID"), (15, 3, 4, 2, "VALID"), (8, 3, 3, 1, "VALID"),
        (16, 3, 5, 2, "VALID"), (17, 3, 5, 2, "VALID"), (8, 3, 3, 1, "SAME"),
        (8, 3, 3, 2, (0, 2)),
    ]
    cases = []
    for i, k, s, d, p in specs:
        ax = resolve_axis(i, k, s, p, d)
        x = np.zeros((1, ax.padded, 1, 1))  # the padded x, batch moved into the channels
        dy_as_filter = np.zeros((ax.out, 1, 1, 1))
        positions = conv2d(x, dy_as_filter, (d, 1), "VALID", dilations=(s, 1)).shape[1]
        cases.append(_Case(_label(in_size=i, k=k, stride=s, dilation=d, padding=p),
                           (i, k, s, d, p), [], positions))
    return cases


def _dw_positions(i: int, k: int, s: int, d: int, p: Any, *, extra: bool = True,
                  divide: bool = True, taps: bool = True) -> int:
    ax = resolve_axis(i, k, s, p, d)
    r = ax.unreached if extra else 0
    return (k if taps else ax.k_eff) + (r // d if divide else r)


_DW_POSITIONS = _Task(
    "check_dw_positions",
    "fn(in_size, k, stride, dilation, padding): how many positions d_w's conv2d gives "
    "along the axis before the crop",
    _dw_positions_cases,
    [
        ("no_extra_positions", lambda *a: _dw_positions(*a, extra=False)),
        ("stride_not_dilation", lambda i, k, s, d, p: (
            (lambda ax: (ax.padded - ax.out) // s + 1)(resolve_axis(i, k, s, p, d)))),
        ("extra_not_divided", lambda *a: _dw_positions(*a, divide=False)),
        ("span_not_taps", lambda *a: _dw_positions(*a, taps=False)),
    ],
    scalar=True,
)


def _grad_filter_1x1_cases() -> list[_Case]:
    rng = np.random.default_rng(14)
    # (x shape, C_out)
    specs = [((1, 2, 2, 1), 1), ((1, 2, 3, 2), 3), ((1, 3, 3, 2), 2), ((2, 2, 3, 3), 2),
             ((2, 3, 2, 3), 3), ((3, 2, 2, 4), 5)]
    cases = []
    for index, (xs, c_out) in enumerate(specs):
        dys = (*xs[:3], c_out)
        x, dy = (_counting(xs), _counting(dys)) if index == 0 else (_ints(rng, xs),
                                                                    _ints(rng, dys))
        fs = (1, 1, xs[3], c_out)
        cases.append(_Case(_label(x=xs, dy=dys), (x, dy), [("x", x, "nhwc"),
                                                         ("dy", dy, "nhwc")],
                           conv2d_backprop_filter(x, fs, dy, 1, "VALID")))
    return cases


def _dw_1x1(x: np.ndarray, dy: np.ndarray, *, images: int = 0, mean: bool = False,
            axes: bool = True, order: bool = True, reshape: bool = True) -> np.ndarray:
    c_in, c_out = x.shape[3], dy.shape[3]
    if images:
        x, dy = x[:images], dy[:images]
    xm = x.reshape(-1, c_in) if reshape else x.reshape(c_in, -1).T
    m = xm.T @ dy.reshape(-1, c_out) if order else dy.reshape(-1, c_out).T @ xm
    if mean:
        m = m / len(x)
    return m[None, None] if axes else m


_GRAD_FILTER_1X1 = _Task(
    "check_grad_filter_1x1",
    "fn(x, dy): d_w of conv2d(x, w, 1, 'VALID') for a 1 x 1 filter, as one matrix product, "
    "shape (1, 1, C_in, C_out)",
    _grad_filter_1x1_cases,
    [
        ("batch_not_contracted", lambda x, dy: _dw_1x1(x, dy, images=1)),
        ("batch_not_contracted", lambda x, dy: _dw_1x1(x, dy, mean=True)),
        ("missing_filter_axes", lambda x, dy: _dw_1x1(x, dy, axes=False)),
        ("product_order", lambda x, dy: _dw_1x1(x, dy, order=False)),
        ("reshape_order", lambda x, dy: _dw_1x1(x, dy, reshape=False)),
    ],
    layout="hwio",
    forbidden=_FORBID_GRAD_FILTER,
)


def _grad_filter_nchw_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(7):
        xn, dyn = x.transpose(0, 3, 1, 2), dy.transpose(0, 3, 1, 2)
        label = _label(x=xn.shape, filter_sizes=w.shape, dy=dyn.shape, strides=s, padding=p)
        cases.append(_Case(label, (xn, w.shape, dyn, s, p), [("x", xn, ""), ("dy", dyn, "")],
                           conv2d_backprop_filter(x, w.shape, dy, s, p)))
    return cases


def _from_nchw(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A ``grad_filter`` variant (NHWC) called with NCHW ``x`` and ``dy``."""
    def variant(x: Any, fs: Any, dy: Any, s: Any, p: Any) -> Any:
        return fn(x.transpose(0, 2, 3, 1), fs, dy.transpose(0, 2, 3, 1), s, p)
    return variant


_GRAD_FILTER_NCHW = _Task(
    "check_grad_filter_nchw",
    "fn(x, filter_sizes, dy, strides, padding): d_w (HWIO) for NCHW x and dy, as one conv2d",
    _grad_filter_nchw_cases,
    [
        ("filter_layout_oihw", lambda x, fs, dy, s, p: _from_nchw(_grad_filter)(
            x, fs, dy, s, p).transpose(3, 2, 0, 1)),
        ("layout_perms", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p)),
        *[(code, _from_nchw(fn)) for code, fn in _GRAD_FILTER.variants],
    ],
    layout="hwio",
    forbidden=_FORBID_GRAD_FILTER,
)


def _coverage_cases() -> list[_Case]:
    # (size, k, stride) of a VALID axis: the transpose's output, the forward's input
    specs = [(4, 2, 1), (5, 3, 1), (7, 3, 2), (8, 3, 2), (11, 5, 3), (12, 6, 3), (9, 4, 2),
             (10, 2, 3)]
    return [_Case(_label(size=n, k=k, stride=s), (n, k, s), [],
                  _arr(_reads(n, k, s, 1, (0, 0)).sum(axis=0))) for n, k, s in specs]


def _coverage(n: int, k: int, s: int, *, past_end: bool = False, taps: int = 0,
              stride: bool = True) -> np.ndarray:
    step = s if stride else 1
    taps = taps or k
    windows = -(-n // step) if past_end else (n - k) // step + 1
    counts = np.zeros(n + taps * step + k)
    for i in range(windows):
        counts[step * i:step * i + taps] += 1
    return _arr(counts[:n])


_COVERAGE = _Task(
    "check_coverage",
    "fn(size, k, stride): how many VALID windows read each cell of an axis of size cells",
    _coverage_cases,
    [
        ("window_past_end", lambda n, k, s: _coverage(n, k, s, past_end=True)),
        ("interior_everywhere", lambda n, k, s: _arr(np.full(n, -(-k // s)))),
        ("interior_everywhere", lambda n, k, s: _arr(np.full(n, k // s))),
        ("window_length", lambda n, k, s: _coverage(n, k, s, taps=k + 1)),
        ("stride_ignored", lambda n, k, s: _coverage(n, k, s, stride=False)),
    ],
)


def _rows_reached_cases() -> list[_Case]:
    # (in_size, k, stride, dilation, padding); the first is every-way's 1 x 1 filter
    specs: list[tuple[int, int, int, int, Any]] = [
        (5, 1, 2, 1, "VALID"), (5, 2, 1, 1, "VALID"), (7, 2, 3, 1, "VALID"),
        (8, 3, 2, 1, "VALID"), (9, 2, 2, 2, "VALID"), (7, 3, 2, 2, "VALID"),
        (6, 1, 2, 1, "SAME"), (7, 2, 3, 1, "SAME"), (8, 3, 3, 2, (1, 0)),
        (9, 2, 4, 1, (2, 1)),
    ]
    cases = []
    for i, k, s, d, p in specs:
        reached = np.flatnonzero(_axis_reads(i, k, s, d, p).sum(axis=0))
        cases.append(_Case(_label(in_size=i, k=k, stride=s, dilation=d, padding=p),
                           (i, k, s, d, p), [], _arr(reached)))
    return cases


def _rows_reached(i: int, k: int, s: int, d: int, p: Any, *, dilate: bool = True,
                  starts: bool = False, inside: bool = True, unpad: bool = True,
                  tail: bool = False) -> np.ndarray:
    ax = resolve_axis(i, k, s, p, d)
    gap = d if dilate else 1
    taps = [0] if starts else range(k)
    shift = ax.pad_before if unpad else 0
    rows = [s * o + gap * a - shift for o in range(ax.out) for a in taps]
    if tail:  # every row from the first reached to the last
        rows = list(range(min(rows), i))
    return _arr(_cells(rows, i if inside else None))


_ROWS_REACHED = _Task(
    "check_rows_reached",
    "fn(in_size, k, stride, dilation, padding): the rows of x that some window reads (those "
    "that get a gradient), in order",
    _rows_reached_cases,
    [
        ("no_dilation", lambda *a: _rows_reached(*a, dilate=False)),
        ("window_starts", lambda *a: _rows_reached(*a, starts=True)),
        ("padding_cells_kept", lambda *a: _rows_reached(*a, inside=False)),
        ("pad_not_removed", lambda *a: _rows_reached(*a, unpad=False)),
        ("unreached_included", lambda *a: _rows_reached(*a, tail=True)),
    ],
)


def _macs_cases() -> list[_Case]:
    cases = []
    specs = [*_CONV_CASES, ((1, 9, 7, 2), (2, 3, 2, 2), (3, 1), "VALID"),
             ((1, 30, 30, 1), (3, 3, 1, 1), (3, 3), "SAME")]
    for xs, ws, s, p in specs:
        y = conv2d(np.zeros(xs), np.zeros(ws), s, p)
        cases.append(_Case(_label(input_shape=xs, filter_shape=ws, strides=s, padding=p),
                           (xs, ws, s, p), [], int(y.size * ws[0] * ws[1] * ws[2])))
    return cases


def _macs(xs: Sequence[int], ws: Sequence[int], s: Sequence[int], p: str, *,
          flops: bool = False, batch: bool = True, c_in: bool = True, c_out: bool = True,
          inputs: bool = False, pad: bool = True, swap: bool = False) -> int:
    n, h, wd, _ = xs
    strides = (s[1], s[0]) if swap else s
    oh, ow = (h, wd) if inputs else (
        output_size(h, ws[0], strides[0], p if pad else "VALID"),
        output_size(wd, ws[1], strides[1], p if pad else "VALID"))
    count = (n if batch else 1) * oh * ow * ws[0] * ws[1]
    count *= (ws[2] if c_in else 1) * (ws[3] if c_out else 1)
    return 2 * count if flops else count


_MACS = _Task(
    "check_conv2d_macs",
    "fn(input_shape, filter_shape, strides, padding): the multiply-adds of tf.nn.conv2d",
    _macs_cases,
    [
        ("flops_not_macs", lambda *a: _macs(*a, flops=True)),
        ("count_no_batch", lambda *a: _macs(*a, batch=False)),
        ("count_no_channels", lambda *a: _macs(*a, c_in=False)),
        ("count_no_channels", lambda *a: _macs(*a, c_out=False)),
        ("input_positions", lambda *a: _macs(*a, inputs=True)),
        ("no_padding", lambda *a: _macs(*a, pad=False)),
        ("strides_swapped", lambda *a: _macs(*a, swap=True)),
    ],
    scalar=True,
)


def check_conv2d_1x1(fn: Callable[[np.ndarray, np.ndarray], Any]) -> CheckResult:
    """Check ``fn(x, w)``: ``conv2d`` with a 1 x 1 filter, stride 1, ``VALID``.

    ``x`` is ``(N, H, W, C_in)``, ``w`` is ``(1, 1, C_in, C_out)``; the result is
    ``(N, H, W, C_out)``.
    """
    return _run(_CONV1X1, fn)


def check_window_cells(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(i, k, stride, dilation, pad_before, in_size)``: the cells window ``i`` reads.

    One axis: the indices of ``x`` (unpadded, ``0`` to ``in_size - 1``) that output ``i``
    reads, ascending, as a list or 1-D array; padding cells are not cells of ``x``.
    """
    return _run(_WINDOW_CELLS, fn)


def check_conv2d_einsum(fn: Callable[[np.ndarray, np.ndarray, int], Any]) -> CheckResult:
    """Check ``fn(x, w, s)``: ``tf.nn.conv2d(x, w, s, "VALID")`` with one int stride ``s``.

    ``x`` NHWC, ``w`` HWIO; the result is NHWC.
    """
    return _run(_EINSUM, fn)


def check_same_padding(fn: Callable[[int, int, int, int], Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation)``: TensorFlow's ``SAME`` pads on one axis.

    The result is the pair ``(before, after)`` (a tuple, list or array of two ints).
    """
    return _run(_SAME_PADDING, fn)


def check_valid_input_sizes(fn: Callable[[int, int, int, int], Any]) -> CheckResult:
    """Check ``fn(out_size, k, stride, dilation)``: the input lengths giving ``out_size``.

    ``VALID`` padding; the result lists every such length, smallest first.
    """
    return _run(_VALID_SIZES, fn)


def check_output_padding(fn: Callable[[int, int, int, str], Any]) -> CheckResult:
    """Check ``fn(size, kernel, stride, padding)``: PyTorch's ``output_padding`` (an int).

    ``size - first``, where ``first`` is the smallest input length with the same output
    length as ``size``; ``padding`` is ``"VALID"`` or ``"SAME"``.
    """
    return _run(_OUTPUT_PADDING, fn)


def check_cell_readers(fn: Callable[[int, int, int, int, int], Any]) -> CheckResult:
    """Check ``fn(p, k, stride, pad_before, out_size)``: who reads cell ``p`` of ``x``.

    One axis, no dilation: the pairs ``(i, a)`` with output ``i < out_size`` whose tap
    ``a`` reads cell ``p`` of the unpadded ``x``, ``i`` ascending, as an ``(m, 2)`` array
    or a list of pairs.
    """
    return _run(_CELL_READERS, fn)


def check_full_padding(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation, padding)``: the gather's full padding.

    The pair ``(before, after)`` that pads the stretched ``dy`` for ``d_x`` as one
    stride-1 conv2d (negative: crop); ``padding`` is ``"VALID"``, ``"SAME"`` or a pair.
    """
    return _run(_FULL_PADDING, fn)


def check_grad_input_1x1(fn: Callable[[np.ndarray, np.ndarray], Any]) -> CheckResult:
    """Check ``fn(dy, w)``: ``d_x`` of a 1 x 1 conv2d (stride 1, ``VALID``).

    ``dy`` is ``(N, H, W, C_out)``, ``w`` is ``(1, 1, C_in, C_out)``; the result is
    ``(N, H, W, C_in)``.
    """
    return _run(_GRAD_INPUT_1X1, fn)


def check_zero_cells(fn: Callable[[int, int, int, str], Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, padding)``: the zeros of the gather's input (an int).

    For an ``in_size x in_size`` one-channel image, a ``k x k`` filter and ``stride`` on
    both axes: the cells of the stretched, fully padded ``dy`` that hold a zero.
    """
    return _run(_ZERO_CELLS, fn)


def check_dw_positions(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation, padding)``: ``d_w``'s positions (an int).

    The length along the axis of the identity's ``conv2d`` (stride = the forward dilation,
    dilation = the forward stride) before it is cropped to ``k``.
    """
    return _run(_DW_POSITIONS, fn)


def check_grad_filter_1x1(fn: Callable[[np.ndarray, np.ndarray], Any]) -> CheckResult:
    """Check ``fn(x, dy)``: ``d_w`` of a 1 x 1 conv2d (stride 1, ``VALID``).

    ``x`` is ``(N, H, W, C_in)``, ``dy`` is ``(N, H, W, C_out)``; the result is
    ``(1, 1, C_in, C_out)``.
    """
    return _run(_GRAD_FILTER_1X1, fn)


def check_grad_filter_nchw(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, filter_sizes, dy, strides, padding)``: ``d_w`` for NCHW data.

    ``x`` is ``(N, C_in, H, W)``, ``dy`` is ``(N, C_out, OH, OW)``; ``filter_sizes`` and
    the result are HWIO, as ``conv2d_backprop_filter(..., data_format="NCHW")`` gives.
    """
    return _run(_GRAD_FILTER_NCHW, fn)


def check_coverage(fn: Callable[[int, int, int], Any]) -> CheckResult:
    """Check ``fn(size, k, stride)``: how many ``VALID`` windows read each cell of an axis.

    A 1-D array of ``size`` counts: the output of ``conv2d_transpose`` with an all-ones
    input and filter along that axis.
    """
    return _run(_COVERAGE, fn)


def check_rows_reached(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation, padding)``: the rows some window reads.

    The rows of ``x`` (``0`` to ``in_size - 1``) that get a gradient, ascending.
    """
    return _run(_ROWS_REACHED, fn)


def check_conv2d_macs(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(input_shape, filter_shape, strides, padding)``: conv2d's multiply-adds.

    ``input_shape`` NHWC, ``filter_shape`` HWIO, ``strides`` ``(s_h, s_w)``; one int.
    """
    return _run(_MACS, fn)


CHECKERS: dict[str, Callable[[Callable[..., Any]], CheckResult]] = {
    "rot180": check_rot180,
    "zero_insertion": check_zero_insertion,
    "output_size": check_output_size,
    "conv2d_loops": check_conv2d_loops,
    "conv2d_im2col": check_conv2d_im2col,
    "grad_filter": check_grad_filter,
    "grad_input": check_grad_input,
    "conv2d_transpose": check_conv2d_transpose,
    "conv2d_1x1": check_conv2d_1x1,
    "window_cells": check_window_cells,
    "conv2d_einsum": check_conv2d_einsum,
    "same_padding": check_same_padding,
    "valid_input_sizes": check_valid_input_sizes,
    "output_padding": check_output_padding,
    "cell_readers": check_cell_readers,
    "full_padding": check_full_padding,
    "grad_input_1x1": check_grad_input_1x1,
    "zero_cells": check_zero_cells,
    "dw_positions": check_dw_positions,
    "grad_filter_1x1": check_grad_filter_1x1,
    "grad_filter_nchw": check_grad_filter_nchw,
    "coverage": check_coverage,
    "rows_reached": check_rows_reached,
    "conv2d_macs": check_conv2d_macs,
}
