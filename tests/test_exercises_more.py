"""The checkers of the book's other exercises: windows, sizes, pads, counts, 1 x 1 and NCHW.

Each student function is written here the way a student would write it, without the
checker's private helpers: the correct version, and the same code with one classic step
done wrong, which must get that mistake's diagnosis code. The last test reads the student
edition: at least 20 checked exercises, each calling a checker of ``exercises.CHECKERS``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import convlab
from convlab import exercises

P = functools.partial
ROOT = Path(__file__).resolve().parents[1]


def same_pads(size, k, s, d=1, extra_first=False):
    k_eff = d * (k - 1) + 1
    total = max((-(-size // s) - 1) * s + k_eff - size, 0)
    before, after = total // 2, total - total // 2
    return (after, before) if extra_first else (before, after)


def axis_pads(size, k, s, d, padding, extra_first=False):
    if padding == "SAME":
        return same_pads(size, k, s, d, extra_first)
    return (0, 0) if padding == "VALID" else tuple(padding)


# --- forward-pass ------------------------------------------------------------------------


def conv2d_1x1(x, w, x_order="pixels", w_order="in_out"):
    n, h, wd, c_in = x.shape
    c_out = w.shape[3]
    X = x.reshape(-1, c_in) if x_order == "pixels" else x.reshape(c_in, -1).T
    if w_order == "in_out":
        W = w.reshape(c_in, c_out)
    elif w_order == "out_in":
        W = w.reshape(c_out, c_in).T
    else:  # the filter matrix transposed
        W = w[0, 0].T
    return (X @ W).reshape(n, h, wd, -1)


def window_cells(i, k, s, d, pb, size, dilate=True, unpad=True, inside=True, swap=False):
    step, gap = (d, s) if swap else (s, d if dilate else 1)
    cells = [step * i + gap * a - (pb if unpad else 0) for a in range(k)]
    if not unpad:
        return [c for c in cells if pb <= c < pb + size]
    return [c for c in cells if 0 <= c < size] if inside else cells


def conv2d_einsum(x, w, s, letters="nijcab", flip=False, stride="windows"):
    if flip:
        w = w[::-1, ::-1]
    if stride == "input":
        view = sliding_window_view(x[:, ::s, ::s], w.shape[:2], axis=(1, 2))
    else:
        view = sliding_window_view(x, w.shape[:2], axis=(1, 2))
        if stride == "windows":
            view = view[:, ::s, ::s]
    return np.einsum(f"{letters},abck->nijk", view, w)


# --- output-size ------------------------------------------------------------------------------


def same_padding(size, k, s, d, extra_first=False, dilate=True, clamp=True, use_stride=True,
                 floor=False):
    k_eff = d * (k - 1) + 1 if dilate else k
    out = size // s if floor else -(-size // s)
    total = (out - 1) * s + k_eff - size if use_stride else k_eff - 1
    if clamp:
        total = max(total, 0)
    before, after = total // 2, total - total // 2
    return (after, before) if extra_first else (before, after)


def valid_sizes(out, k, s, d, one=False, dilate=True, extra=0, shift=0):
    first = (out - 1) * s + (d * (k - 1) + 1 if dilate else k) + shift
    return [first] if one else list(range(first, first + s + extra))


def output_padding(size, k, s, padding, mistake=""):
    start = k if padding == "VALID" else 1
    if mistake == "no_offset":
        start = 0
    elif mistake == "valid_everywhere":
        start = k
    elif mistake == "same_everywhere":
        start = 1
    place = (size - start) % s
    return s - 1 - place if mistake == "from_end" else place


# --- four-functions ---------------------------------------------------------------------------


def cell_readers(p, k, s, pb, out, pad_sign=1, bounded=True):
    q = p + pad_sign * pb
    last = out if bounded else q // s + 1
    return [(i, q - s * i) for i in range(last) if 0 <= q - s * i < k]


# --- input-gradient ---------------------------------------------------------------------------


def full_pads(size, k, s, d, padding, unreached=True, extra_first=False, dilate=True,
              subtract=True, r_first=False):
    k_eff = d * (k - 1) + 1 if dilate else k
    before, after = axis_pads(size, k_eff, s, 1, padding, extra_first)
    r = (size + before + after - k_eff) % s if unreached else 0
    if not subtract:
        before = after = 0
    if r_first:
        return (k_eff - 1 - before + r, k_eff - 1 - after)
    return (k_eff - 1 - before, k_eff - 1 - after + r)


def grad_input_1x1(dy, w, swap=True, reshape=False):
    n, h, wd, c_out = dy.shape
    if reshape:
        W = w.reshape(c_out, w.shape[2])
    else:
        W = w[0, 0].T if swap else w[0, 0]
    return (dy.reshape(-1, c_out) @ W).reshape(n, h, wd, -1)


def zero_cells(size, k, s, padding, trailing=False, unreached=True, pad=True,
               count="zeros"):
    before, after = axis_pads(size, k, s, 1, padding)
    padded = size + before + after
    out = (padded - k) // s + 1
    r = (padded - k) % s if unreached else 0
    side = s * out if trailing else s * (out - 1) + 1
    if pad:
        side += (k - 1 - before) + (k - 1 - after + r)
    if count == "values":
        return out * out
    if count == "one_axis":
        return side - out
    return side * side - out * out


# --- filter-gradient --------------------------------------------------------------------------


def dw_positions(size, k, s, d, padding, extra=True, divide=True, span=False,
                 as_stride=False):
    before, after = axis_pads(size, k, s, d, padding)
    k_eff = d * (k - 1) + 1
    padded = size + before + after
    if as_stride:  # the identity's conv2d run with the forward stride as its stride
        out = (padded - k_eff) // s + 1
        return (padded - out) // s + 1
    r = (padded - k_eff) % s if extra else 0
    return (k_eff if span else k) + (r // d if divide else r)


def grad_filter_1x1(x, dy, first_image=False, mean=False, axes=True, order="x_dy",
                    reshape="pixels"):
    c_in, c_out = x.shape[3], dy.shape[3]
    if first_image:
        x, dy = x[:1], dy[:1]
    X = x.reshape(-1, c_in) if reshape == "pixels" else x.reshape(c_in, -1).T
    dY = dy.reshape(-1, c_out)
    m = X.T @ dY if order == "x_dy" else dY.T @ X
    if mean:
        m = m / x.shape[0]
    return m.reshape(1, 1, *m.shape) if axes else m


def grad_filter_nchw(x, filter_sizes, dy, strides, padding, perms="nchw", oihw=False,
                     extra_first=False, pad=True, single_image=False, trade=True,
                     crop=True):
    kh, kw = filter_sizes[:2]
    h_axis = 2 if perms == "nchw" else 1
    pads = [axis_pads(x.shape[h_axis + i], filter_sizes[i], strides[i], 1,
                      padding if pad else "VALID", extra_first) for i in (0, 1)]
    if perms == "nchw":
        xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
        xc = np.transpose(xp, (0, 2, 3, 1) if single_image else (1, 2, 3, 0))
        f = np.transpose(dy, (2, 3, 0, 1))
    else:  # the NHWC recipe, unchanged
        xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
        xc, f = np.transpose(xp, (3, 1, 2, 0)), np.transpose(dy, (1, 2, 0, 3))
    if trade:
        z = convlab.conv2d(xc, f, strides=1, padding="VALID", dilations=strides)
    else:
        z = convlab.conv2d(xc, f, strides=strides, padding="VALID")
    if crop:
        z = z[:, :kh, :kw, :]
    dw = np.transpose(z, (1, 2, 0, 3))
    return np.transpose(dw, (3, 2, 0, 1)) if oihw else dw


# --- transpose, every-way, performance -----------------------------------------------------


def coverage_1d(size, k, s, past_end=False, taps=None, use_stride=True):
    step = s if use_stride else 1
    taps = taps or k
    windows = -(-size // step) if past_end else (size - k) // step + 1
    counts = np.zeros(size + step * windows + taps, dtype=int)
    for i in range(windows):
        counts[step * i:step * i + taps] += 1
    return counts[:size]


def interior_everywhere(size, k, s):
    return np.full(size, -(-k // s))


def rows_reached(size, k, s, d, padding, dilate=True, starts=False, inside=True,
                 unpad=True, tail=False):
    before, after = axis_pads(size, k, s, d, padding)
    k_eff = d * (k - 1) + 1
    out = (size + before + after - k_eff) // s + 1
    gap = d if dilate else 1
    taps = [0] if starts else range(k)
    rows = {s * i + gap * a - (before if unpad else 0) for i in range(out) for a in taps}
    if tail:
        rows = set(range(min(rows), size))
    return sorted(r for r in rows if not inside or 0 <= r < size)


def conv2d_macs(input_shape, filter_shape, strides, padding, flops=False, batch=True,
                c_in=True, c_out=True, inputs=False, pad=True, swap=False):
    n, h, wd, ci = input_shape
    kh, kw, _, co = filter_shape
    sh, sw = (strides[1], strides[0]) if swap else strides
    if inputs:
        oh, ow = h, wd
    elif padding == "SAME" and pad:
        oh, ow = -(-h // sh), -(-wd // sw)
    else:
        oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    count = (n if batch else 1) * oh * ow * kh * kw
    count *= (ci if c_in else 1) * (co if c_out else 1)
    return 2 * count if flops else count


CHECKS = {
    "conv2d_1x1": (exercises.check_conv2d_1x1, conv2d_1x1),
    "window_cells": (exercises.check_window_cells, window_cells),
    "conv2d_einsum": (exercises.check_conv2d_einsum, conv2d_einsum),
    "same_padding": (exercises.check_same_padding, same_padding),
    "valid_input_sizes": (exercises.check_valid_input_sizes, valid_sizes),
    "output_padding": (exercises.check_output_padding, output_padding),
    "cell_readers": (exercises.check_cell_readers, cell_readers),
    "full_padding": (exercises.check_full_padding, full_pads),
    "grad_input_1x1": (exercises.check_grad_input_1x1, grad_input_1x1),
    "zero_cells": (exercises.check_zero_cells, zero_cells),
    "dw_positions": (exercises.check_dw_positions, dw_positions),
    "grad_filter_1x1": (exercises.check_grad_filter_1x1, grad_filter_1x1),
    "grad_filter_nchw": (exercises.check_grad_filter_nchw, grad_filter_nchw),
    "coverage": (exercises.check_coverage, coverage_1d),
    "rows_reached": (exercises.check_rows_reached, rows_reached),
    "conv2d_macs": (exercises.check_conv2d_macs, conv2d_macs),
}

MISTAKES = [
    ("conv2d_1x1", "reshape_order", P(conv2d_1x1, x_order="channels")),
    ("conv2d_1x1", "reshape_order", P(conv2d_1x1, w_order="out_in")),
    ("conv2d_1x1", "filter_transposed", P(conv2d_1x1, w_order="transposed")),
    ("window_cells", "no_dilation", P(window_cells, dilate=False)),
    ("window_cells", "pad_not_removed", P(window_cells, unpad=False)),
    ("window_cells", "padding_cells_kept", P(window_cells, inside=False)),
    ("window_cells", "stride_dilation_swapped", P(window_cells, swap=True)),
    ("conv2d_einsum", "flipped_kernel", P(conv2d_einsum, flip=True)),
    ("conv2d_einsum", "window_axes_order", P(conv2d_einsum, letters="nijcba")),
    ("conv2d_einsum", "window_axes_order", P(conv2d_einsum, letters="nijabc")),
    ("conv2d_einsum", "stride_on_input", P(conv2d_einsum, stride="input")),
    ("conv2d_einsum", "stride_ignored", P(conv2d_einsum, stride="none")),
    ("same_padding", "padding_split", P(same_padding, extra_first=True)),
    ("same_padding", "no_dilation", P(same_padding, dilate=False)),
    ("same_padding", "negative_padding", P(same_padding, clamp=False)),
    ("same_padding", "same_stride_one", P(same_padding, use_stride=False)),
    ("same_padding", "rounding", P(same_padding, floor=True)),
    ("valid_input_sizes", "one_input_size", P(valid_sizes, one=True)),
    ("valid_input_sizes", "no_dilation", P(valid_sizes, dilate=False)),
    ("valid_input_sizes", "input_range", P(valid_sizes, extra=1)),
    ("valid_input_sizes", "input_range", P(valid_sizes, shift=1)),
    ("output_padding", "modulo_offset", P(output_padding, mistake="no_offset")),
    ("output_padding", "valid_formula_for_same",
     P(output_padding, mistake="valid_everywhere")),
    ("output_padding", "kernel_ignored", P(output_padding, mistake="same_everywhere")),
    ("output_padding", "counted_from_end", P(output_padding, mistake="from_end")),
    ("cell_readers", "pad_offset", P(cell_readers, pad_sign=0)),
    ("cell_readers", "pad_offset", P(cell_readers, pad_sign=-1)),
    ("cell_readers", "window_past_end", P(cell_readers, bounded=False)),
    ("full_padding", "unreached_rows", P(full_pads, unreached=False)),
    ("full_padding", "padding_split", P(full_pads, extra_first=True)),
    ("full_padding", "no_dilation", P(full_pads, dilate=False)),
    ("full_padding", "forward_pads_kept", P(full_pads, subtract=False)),
    ("full_padding", "unreached_before", P(full_pads, r_first=True)),
    ("grad_input_1x1", "no_channel_swap", P(grad_input_1x1, swap=False)),
    ("grad_input_1x1", "reshape_order", P(grad_input_1x1, reshape=True)),
    ("zero_cells", "trailing_zeros", P(zero_cells, trailing=True)),
    ("zero_cells", "unreached_rows", P(zero_cells, unreached=False)),
    ("zero_cells", "no_full_padding", P(zero_cells, pad=False)),
    ("zero_cells", "counted_values", P(zero_cells, count="values")),
    ("zero_cells", "one_axis_only", P(zero_cells, count="one_axis")),
    ("dw_positions", "no_extra_positions", P(dw_positions, extra=False)),
    ("dw_positions", "extra_not_divided", P(dw_positions, divide=False)),
    ("dw_positions", "span_not_taps", P(dw_positions, span=True)),
    ("dw_positions", "stride_not_dilation", P(dw_positions, as_stride=True)),
    ("grad_filter_1x1", "batch_not_contracted", P(grad_filter_1x1, first_image=True)),
    ("grad_filter_1x1", "batch_not_contracted", P(grad_filter_1x1, mean=True)),
    ("grad_filter_1x1", "missing_filter_axes", P(grad_filter_1x1, axes=False)),
    ("grad_filter_1x1", "product_order", P(grad_filter_1x1, order="dy_x")),
    ("grad_filter_1x1", "reshape_order", P(grad_filter_1x1, reshape="channels")),
    ("grad_filter_nchw", "layout_perms", P(grad_filter_nchw, perms="nhwc")),
    ("grad_filter_nchw", "filter_layout_oihw", P(grad_filter_nchw, oihw=True)),
    ("grad_filter_nchw", "padding_split", P(grad_filter_nchw, extra_first=True)),
    ("grad_filter_nchw", "no_padding", P(grad_filter_nchw, pad=False)),
    ("grad_filter_nchw", "batch_not_contracted", P(grad_filter_nchw, single_image=True)),
    ("grad_filter_nchw", "stride_not_dilation", P(grad_filter_nchw, trade=False)),
    ("grad_filter_nchw", "no_crop", P(grad_filter_nchw, crop=False)),
    ("coverage", "window_past_end", P(coverage_1d, past_end=True)),
    ("coverage", "interior_everywhere", interior_everywhere),
    ("coverage", "window_length", lambda n, k, s: coverage_1d(n, k, s, taps=k + 1)),
    ("coverage", "stride_ignored", P(coverage_1d, use_stride=False)),
    ("rows_reached", "no_dilation", P(rows_reached, dilate=False)),
    ("rows_reached", "window_starts", P(rows_reached, starts=True)),
    ("rows_reached", "padding_cells_kept", P(rows_reached, inside=False)),
    ("rows_reached", "pad_not_removed", P(rows_reached, unpad=False)),
    ("rows_reached", "unreached_included", P(rows_reached, tail=True)),
    ("conv2d_macs", "flops_not_macs", P(conv2d_macs, flops=True)),
    ("conv2d_macs", "count_no_batch", P(conv2d_macs, batch=False)),
    ("conv2d_macs", "count_no_channels", P(conv2d_macs, c_in=False)),
    ("conv2d_macs", "count_no_channels", P(conv2d_macs, c_out=False)),
    ("conv2d_macs", "input_positions", P(conv2d_macs, inputs=True)),
    ("conv2d_macs", "no_padding", P(conv2d_macs, pad=False)),
    ("conv2d_macs", "strides_swapped", P(conv2d_macs, swap=True)),
]


@pytest.mark.parametrize("task", sorted(CHECKS))
def test_reference_solution_passes(task):
    check, solution = CHECKS[task]
    result = check(solution)
    assert result.passed, str(result)
    assert result.diagnosis == "ok" and result.cases >= 6


@pytest.mark.parametrize(("task", "code", "student"), MISTAKES,
                         ids=[f"{t}-{c}-{i}" for i, (t, c, _) in enumerate(MISTAKES)])
def test_classic_mistake_gets_its_code(task, code, student):
    result = CHECKS[task][0](student)
    assert not result.passed
    assert result.diagnosis == code, str(result)
    words = " ".join(str(result).split())  # long lines are wrapped
    assert " ".join(exercises.DIAGNOSES[code].split()) in words
    assert " ".join(f"hint: {exercises._HINTS[code]}".split()) in words


def test_every_new_checker_is_registered_with_a_documented_code_for_each_mistake():
    for key, (check, _) in CHECKS.items():
        assert exercises.CHECKERS[key] is check
        assert check.__name__ in exercises.__all__
        assert f"``{check.__name__}``" in (exercises.__doc__ or "")
    for _, code, _ in MISTAKES:
        assert f"``{code}``" in (exercises.__doc__ or "") and code in exercises._HINTS
    tested = {(task, code) for task, code, _ in MISTAKES}
    tasks = [t for t in vars(exercises).values() if isinstance(t, exercises._Task)]
    for task in tasks:
        key = task.name.removeprefix("check_")
        if key in CHECKS:
            assert {(key, code) for code, _ in task.variants} <= tested, key


def test_silent_with_equal_channels_named_after_a_loud_case():
    """w[0, 0] without the transpose fails loudly when C_in != C_out, silently otherwise."""
    result = exercises.check_grad_input_1x1(P(grad_input_1x1, swap=False))
    assert result.diagnosis == "no_channel_swap" and "raised" in result.message


def test_sizes_are_plain_ints_and_answers_read_as_lists_tuples_or_arrays():
    assert exercises.check_same_padding(
        lambda *a: np.array(same_padding(*a))).passed
    assert exercises.check_window_cells(lambda *a: tuple(window_cells(*a))).passed
    assert exercises.check_cell_readers(lambda *a: np.array(cell_readers(*a))).passed
    assert exercises.check_coverage(lambda *a: list(coverage_1d(*a))).passed
    assert exercises.check_conv2d_macs(conv2d_macs).passed


def test_a_wrong_count_that_no_mistake_explains_shows_expected_and_got():
    result = exercises.check_zero_cells(lambda *a: 7)
    assert result.diagnosis == "wrong_values" and result.case == 1
    assert "expected 12, got 7" in result.message


def test_the_student_edition_has_at_least_20_checked_exercises():
    """Every stub cell keeps its checker call, and its functions are stubbed."""
    pytest.importorskip("jupytext")
    from convlab import student
    from convlab.notebooks import Book

    book = Book.read(ROOT)
    found: dict[str, list[str]] = {}
    for path in student.chapters(ROOT):
        if path.stem in student.INSTRUCTOR_ONLY:
            continue
        nb = student.student_notebook(path, book)
        for cell in nb.cells:
            if student.STUB_TAG not in cell.get("metadata", {}).get("tags", []):
                continue
            calls = re.findall(r"exercises\.check_(\w+)\(", cell.source)
            assert len(calls) == 1 and calls[0] in exercises.CHECKERS, cell.source
            assert "raise NotImplementedError" in cell.source
            assert "solution-only" not in cell.source
            found.setdefault(path.stem, []).append(calls[0])
    assert sum(map(len, found.values())) >= 20, found
    # every chapter with a computable exercise has a checked one
    assert {"forward-pass", "output-size", "four-functions", "input-gradient",
            "filter-gradient", "transpose", "every-way", "performance"} <= set(found)
    assert set(CHECKS) <= {c for calls in found.values() for c in calls}


def test_the_library_s_own_answer_is_forbidden():
    cases = [
        (exercises.check_same_padding, lambda i, k, s, d: convlab.same_padding(i, k, s, d)),
        (exercises.check_valid_input_sizes,
         lambda o, k, s, d: convlab.valid_input_sizes(o, k, s, "VALID", d)),
        (exercises.check_conv2d_1x1, lambda x, w: convlab.conv2d(x, w, 1, "VALID")),
        (exercises.check_grad_filter_nchw,
         lambda x, fs, dy, s, p: convlab.conv2d_backprop_filter(x, fs, dy, s, p,
                                                                data_format="NCHW")),
    ]
    for check, student in cases:
        result = check(student)
        assert result.diagnosis == "forbidden", str(result)
