"""The exercise checkers: reference solutions pass, every classic mistake gets its code.

Each student function here is written the way a student would write it, without the
checker's private helpers: the correct version, and the same code with one known step
done wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys

import numpy as np
import pytest

import convlab
from convlab import exercises
from convlab.exercises import DIAGNOSES, CheckResult

# --- students' helpers ---------------------------------------------------------------------


def same_pads(size, k, s, extra_first=False):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    before, after = total // 2, total - total // 2
    return (after, before) if extra_first else (before, after)


def pads_for(x_shape, k_shape, strides, padding, extra_first=False):
    if padding == "VALID":
        return [(0, 0), (0, 0)]
    return [same_pads(x_shape[1 + i], k_shape[i], strides[i], extra_first) for i in (0, 1)]


def pad_crop(a, pads):
    """Pad H and W of NHWC ``a``; negative amounts crop."""
    (t, b), (lf, r) = pads
    a = np.pad(a, ((0, 0), (max(t, 0), max(b, 0)), (max(lf, 0), max(r, 0)), (0, 0)))
    return a[:, max(-t, 0):a.shape[1] - max(-b, 0), max(-lf, 0):a.shape[2] - max(-r, 0)]


# --- students' functions: rot180 -----------------------------------------------------------


def rot180(w):
    return np.transpose(w[::-1, ::-1], (0, 1, 3, 2))


def rot180_no_rotation(w):
    return np.transpose(w, (0, 1, 3, 2))


def rot180_no_swap(w):
    return np.rot90(w, 2, axes=(0, 1))


def rot180_one_axis(w):
    return np.transpose(w[::-1], (0, 1, 3, 2))


def rot180_transposed(w):
    return np.transpose(w, (1, 0, 3, 2))


# --- zero insertion ---------------------------------------------------------------------------


def zero_insertion(dy, strides, extra=0, trailing=False, swap=False):
    sh, sw = (strides[1], strides[0]) if swap else strides
    sh, sw = sh + extra, sw + extra
    n, h, w, c = dy.shape
    out = np.zeros((n, sh * h if trailing else sh * (h - 1) + 1,
                    sw * w if trailing else sw * (w - 1) + 1, c))
    for i in range(h):
        for j in range(w):
            out[:, sh * i, sw * j, :] = dy[:, i, j, :]
    return out


# --- output size ------------------------------------------------------------------------------


def output_size(in_size, k, stride, dilation, padding, k_eff=None, valid_ceil=False,
                same_floor=False):
    k_eff = dilation * (k - 1) + 1 if k_eff is None else k_eff
    if padding == "SAME":
        return in_size // stride if same_floor else -(-in_size // stride)
    before, after = (0, 0) if padding == "VALID" else padding
    span = in_size + before + after - k_eff
    return (-(-span // stride) if valid_ceil else span // stride) + 1


# --- forward ----------------------------------------------------------------------------------


def conv2d_loops(x, w, strides, padding, flip=False, extra_first=False, pad=True,
                 swap_strides=False):
    sh, sw = (strides[1], strides[0]) if swap_strides else strides
    kh, kw, c_in, c_out = w.shape
    if flip:
        w = w[::-1, ::-1]
    pads = pads_for(x.shape, w.shape, (sh, sw), padding if pad else "VALID", extra_first)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n, hp, wp, _ = xp.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    y = np.zeros((n, oh, ow, c_out))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for k in range(c_out):
                    for a in range(kh):
                        for q in range(kw):
                            for c in range(c_in):
                                y[b, i, j, k] += xp[b, sh * i + a, sw * j + q, c] * w[a, q, c, k]
    return y


def conv2d_im2col(x, w, strides, padding, channel_first_cols=False):
    kh, kw, c_in, c_out = w.shape
    pads = pads_for(x.shape, w.shape, strides, padding)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n, hp, wp, _ = xp.shape
    oh, ow = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
    cols = np.empty((n, oh, ow, kh, kw, c_in))
    for i in range(oh):
        for j in range(ow):
            cols[:, i, j] = xp[:, strides[0] * i:strides[0] * i + kh,
                               strides[1] * j:strides[1] * j + kw]
    if channel_first_cols:  # the windows flattened (c, kh, kw), the filter (kh, kw, c)
        cols = cols.transpose(0, 1, 2, 5, 3, 4)
    return (cols.reshape(n * oh * ow, -1) @ w.reshape(-1, c_out)).reshape(n, oh, ow, c_out)


# --- d_w ----------------------------------------------------------------------------------------


def grad_filter(x, filter_sizes, dy, strides, padding, extra_first=False, pad=True,
                single_image_recipe=False, trade=True, crop=True):
    kh, kw = filter_sizes[:2]
    pads = pads_for(x.shape, (kh, kw), strides, padding if pad else "VALID", extra_first)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    if not single_image_recipe:
        xp = np.transpose(xp, (3, 1, 2, 0))
    kernel = np.transpose(dy, (1, 2, 0, 3))
    if trade:
        dw = convlab.conv2d(xp, kernel, 1, "VALID", dilations=strides)
    else:
        dw = convlab.conv2d(xp, kernel, strides, "VALID")
    if crop:
        dw = dw[:, :kh, :kw]
    return np.transpose(dw, (1, 2, 0, 3))


def grad_filter_first_image(x, filter_sizes, dy, strides, padding):
    return grad_filter(x[:1], filter_sizes, dy[:1], strides, padding)


def grad_filter_mean(x, filter_sizes, dy, strides, padding):
    return grad_filter(x, filter_sizes, dy, strides, padding) / x.shape[0]


# --- d_x ----------------------------------------------------------------------------------------


def grad_input(input_sizes, w, dy, strides, padding, rotate=True, swap=True, zeros=True,
               extra_first=False, unreached=True):
    kh, kw = w.shape[:2]
    if zeros:
        dy = zero_insertion(dy, strides)
    full = []
    for i, k in ((0, kh), (1, kw)):
        size, s = input_sizes[1 + i], strides[i]
        before, after = (0, 0) if padding == "VALID" else same_pads(size, k, s, extra_first)
        a = (size + before + after - k) % s if unreached else 0
        full.append((k - 1 - before, k - 1 - after + a))
    if rotate:
        w = w[::-1, ::-1]
    if swap:
        w = np.transpose(w, (0, 1, 3, 2))
    return convlab.conv2d(pad_crop(dy, full), w, 1, "VALID")


def conv2d_transpose(dy, w, output_shape, strides, padding, **mistake):
    return grad_input(output_shape, w, dy, strides, padding, **mistake)


def conv2d_transpose_layout(dy, w, output_shape, strides, padding):
    """Reads the [h, w, out, in] filter as [h, w, in, out]."""
    return grad_input(output_shape, np.transpose(w, (0, 1, 3, 2)), dy, strides, padding)


P = functools.partial

TASKS = {
    "rot180": exercises._ROT180, "zero_insertion": exercises._ZEROS,
    "output_size": exercises._SIZE, "conv2d_loops": exercises._LOOPS,
    "conv2d_im2col": exercises._IM2COL, "grad_filter": exercises._GRAD_FILTER,
    "grad_input": exercises._GRAD_INPUT, "conv2d_transpose": exercises._TRANSPOSE,
}

CHECKS = {
    "rot180": (exercises.check_rot180, rot180),
    "zero_insertion": (exercises.check_zero_insertion, zero_insertion),
    "output_size": (exercises.check_output_size, output_size),
    "conv2d_loops": (exercises.check_conv2d_loops, conv2d_loops),
    "conv2d_im2col": (exercises.check_conv2d_im2col, conv2d_im2col),
    "grad_filter": (exercises.check_grad_filter, grad_filter),
    "grad_input": (exercises.check_grad_input, grad_input),
    "conv2d_transpose": (exercises.check_conv2d_transpose, conv2d_transpose),
}

MISTAKES = [
    ("rot180", rot180_no_rotation, "no_rotation"),
    ("rot180", rot180_no_swap, "no_channel_swap"),
    ("rot180", rot180_one_axis, "one_axis_flip"),
    ("rot180", rot180_transposed, "spatial_transpose"),
    ("zero_insertion", lambda dy, s: dy, "no_zero_insertion"),
    ("zero_insertion", P(zero_insertion, trailing=True), "trailing_zeros"),
    ("zero_insertion", P(zero_insertion, extra=1), "zero_count"),
    ("zero_insertion", P(zero_insertion, swap=True), "strides_swapped"),
    ("output_size", lambda i, k, s, d, p: output_size(i, k, s, d, p, k_eff=k), "no_dilation"),
    ("output_size", lambda i, k, s, d, p: output_size(i, k, s, d, p, k_eff=(d + 1) * (k - 1) + 1),
     "dilation_convention"),
    ("output_size", P(output_size, valid_ceil=True), "rounding"),
    ("output_size", P(output_size, same_floor=True), "rounding"),
    ("output_size", lambda i, k, s, d, p: output_size(i, k, s, d, "VALID"), "no_padding"),
    ("conv2d_loops", P(conv2d_loops, flip=True), "flipped_kernel"),
    ("conv2d_loops", P(conv2d_loops, extra_first=True), "padding_split"),
    ("conv2d_loops", P(conv2d_loops, pad=False), "no_padding"),
    ("conv2d_loops", P(conv2d_loops, swap_strides=True), "strides_swapped"),
    ("conv2d_im2col", P(conv2d_im2col, channel_first_cols=True), "im2col_order"),
    ("grad_filter", P(grad_filter, single_image_recipe=True), "batch_not_contracted"),
    ("grad_filter", grad_filter_first_image, "batch_not_contracted"),
    ("grad_filter", grad_filter_mean, "batch_not_contracted"),
    ("grad_filter", P(grad_filter, extra_first=True), "padding_split"),
    ("grad_filter", P(grad_filter, pad=False), "no_padding"),
    ("grad_filter", P(grad_filter, trade=False), "stride_not_dilation"),
    ("grad_filter", P(grad_filter, crop=False), "no_crop"),
    ("grad_input", P(grad_input, rotate=False), "no_rotation"),
    ("grad_input", P(grad_input, swap=False), "no_channel_swap"),
    ("grad_input", P(grad_input, zeros=False), "no_zero_insertion"),
    ("grad_input", P(grad_input, extra_first=True), "padding_split"),
    ("grad_input", P(grad_input, unreached=False), "unreached_rows"),
    ("conv2d_transpose", conv2d_transpose_layout, "transpose_filter_layout"),
    ("conv2d_transpose", P(conv2d_transpose, rotate=False), "no_rotation"),
    # the same numbers as the layout mix-up: rot180(w) without the swap is rot180 of swap(w)
    ("conv2d_transpose", P(conv2d_transpose, swap=False), "transpose_filter_layout"),
    ("conv2d_transpose", P(conv2d_transpose, zeros=False), "no_zero_insertion"),
    ("conv2d_transpose", P(conv2d_transpose, extra_first=True), "padding_split"),
]


def _id(m):
    return f"{m[0]}-{m[2]}" if isinstance(m, tuple) else None


@pytest.mark.parametrize("task", sorted(CHECKS))
def test_reference_solution_passes(task):
    check, solution = CHECKS[task]
    result = check(solution)
    assert result.passed, str(result)
    assert result.diagnosis == "ok" and result.case is None
    assert result.cases >= 6
    result.raise_if_failed()


@pytest.mark.parametrize("task", sorted(CHECKS))
def test_convlab_itself_passes(task):
    """convlab's own functions, with the students' signatures, pass every checker once
    allowed; the exercise forbids them otherwise."""
    own = {
        "rot180": lambda w: convlab.via_conv2d.swap_in_out(convlab.via_conv2d.rotate180(w)),
        "zero_insertion": convlab.via_conv2d.insert_zeros,
        "output_size": lambda i, k, s, d, p: convlab.output_size(i, k, s, p, d),
        "conv2d_loops": convlab.conv2d_loops,
        "conv2d_im2col": convlab.conv2d,
        "grad_filter": convlab.grad_filter_via_conv2d,
        "grad_input": convlab.grad_input_via_conv2d,
        "conv2d_transpose": convlab.conv2d_transpose,
    }
    result = CHECKS[task][0](own[task])
    assert (result.passed, result.diagnosis) == (False, "forbidden"), str(result)
    assert "which this exercise asks you to write" in result.message
    allowed = dataclasses.replace(TASKS[task], forbidden=())
    assert exercises._run(allowed, own[task]).passed


@pytest.mark.parametrize("mistake", MISTAKES, ids=_id)
def test_known_mistake_gets_its_code(mistake):
    task, student, code = mistake
    result = CHECKS[task][0](student)
    assert not result.passed
    assert result.diagnosis == code, str(result)
    assert DIAGNOSES[code] in str(result)
    assert "hint:" in result.message


def test_every_classic_mistake_of_the_issue_is_recognised():
    codes = {code for _, _, code in MISTAKES}
    classic = {"no_rotation", "no_channel_swap", "no_zero_insertion", "padding_split",
               "batch_not_contracted", "transpose_filter_layout"}
    assert classic <= codes


@pytest.mark.parametrize("task", sorted(CHECKS))
def test_not_implemented(task):
    def stub(*args):
        raise NotImplementedError

    result = CHECKS[task][0](stub)
    assert (result.passed, result.diagnosis, result.case) == (False, "not_implemented", 1)
    assert "not implemented yet" in str(result)
    assert "Traceback" not in str(result)


def test_not_implemented_for_some_cases_names_the_case():
    def partial(w):
        if w.shape[2] > 1:
            raise NotImplementedError("several channels")
        return rot180(w)

    result = exercises.check_rot180(partial)
    assert result.diagnosis == "not_implemented" and result.case == 4
    assert "several channels" in result.message


@pytest.mark.parametrize("task", sorted(CHECKS))
def test_exception_is_reported_with_its_text(task):
    def crash(*args):
        return {}["no such key"]

    result = CHECKS[task][0](crash)
    assert (result.passed, result.diagnosis, result.case) == (False, "exception", 1)
    assert "KeyError" in result.message and "no such key" in result.message
    assert "crash()" in result.message  # the line of the student's code that raised


@pytest.mark.parametrize("task", sorted(set(CHECKS) - {"output_size"}))
def test_wrong_shape(task):
    result = CHECKS[task][0](lambda *args: np.zeros((1, 1, 1, 7)))
    assert result.diagnosis == "wrong_shape", str(result)
    assert "expected shape" in result.message


def test_output_size_wrong_type_and_values():
    assert exercises.check_output_size(lambda *a: (3, 3)).diagnosis == "wrong_type"
    assert exercises.check_output_size(lambda *a: 1).diagnosis == "wrong_values"
    assert exercises.check_output_size(lambda i, k, s, d, p: 3).case == 4  # cases 1-3 give 3


def test_wrong_values_and_no_return():
    result = exercises.check_grad_input(lambda i, w, dy, s, p: grad_input(i, w, dy, s, p) + 1)
    assert result.diagnosis == "wrong_values" and result.case == 1
    assert "largest difference" in result.message
    assert exercises.check_rot180(lambda w: None).diagnosis == "no_return"


def test_loud_on_some_shapes_silent_on_others():
    """The seed's d_w recipe raises when N != C_in; the batch case names the mistake."""
    result = exercises.check_grad_filter(P(grad_filter, single_image_recipe=True))
    assert result.diagnosis == "batch_not_contracted"
    assert "ValueError" in result.message  # the smallest failing case is the crash


def test_inputs_are_not_shared_between_calls():
    def vandal(w):
        out = rot180(w).copy()
        w[...] = 0  # modifies its input in place
        return out

    assert exercises.check_rot180(vandal).passed


def test_the_message_shows_small_arrays_expected_against_got():
    result = exercises.check_zero_insertion(lambda dy, s: dy)
    text = str(result)
    assert result.case == 1
    assert "dy[0, :, :, 0] =" in text and "expected[0, :, :, 0] =" in text
    assert "got[0, :, :, 0] =" in text and "[[1 0 2 0 3]" in text
    assert text.startswith("check_zero_insertion: failed [no_zero_insertion]")


def test_html_and_text_render():
    bad = exercises.check_grad_input(P(grad_input, swap=False))
    good = exercises.check_grad_input(grad_input)
    stub = exercises.check_grad_input(lambda *a: (_ for _ in ()).throw(NotImplementedError()))
    for result in (bad, good, stub):
        page = result._repr_html_()
        assert page.startswith("<div") and page.endswith("</div>")
        assert "<pre" in page and "http" not in page
        assert str(result).splitlines()[0] == result.headline
    assert "no_channel_swap" in bad._repr_html_()
    assert "passed" in str(good) and "not implemented yet" in str(stub)
    with pytest.raises(AssertionError, match="no_channel_swap"):
        bad.raise_if_failed()


def test_html_escapes():
    result = CheckResult("t", False, "exception", "a <b> & c", 1, 2)
    assert "a &lt;b&gt; &amp; c" in result._repr_html_()


def test_results_are_reproducible():
    a = exercises.check_conv2d_loops(P(conv2d_loops, flip=True))
    b = exercises.check_conv2d_loops(P(conv2d_loops, flip=True))
    assert a == b and a.message == b.message


def test_every_code_is_documented_and_has_a_hint():
    doc = exercises.__doc__ or ""
    for code in DIAGNOSES:
        assert f"``{code}``" in doc, code
        assert code == "ok" or code in exercises._HINTS, code
    # the checkers tested here; test_exercises_more tests the others
    assert {c for c, _ in CHECKS.values()} <= set(exercises.CHECKERS.values())


def test_every_variant_differs_from_the_reference_somewhere():
    """A known mistake that no case could reveal would never be diagnosed."""
    tasks = [t for t in vars(exercises).values() if isinstance(t, exercises._Task)]
    assert len(tasks) == len(exercises.CHECKERS)
    for task in tasks:
        cases = task.make_cases()
        for code, fn in task.variants:
            assert code in DIAGNOSES
            outs = [exercises._variant_output(fn, c, task.scalar) for c in cases]
            assert any(o is not None and not exercises._agrees(o, c.expected, task.scalar)
                       for o, c in zip(outs, cases, strict=True)), (task.name, code)


def test_cases_cover_channels_strides_same_and_batch():
    cases = exercises._GRAD_INPUT.make_cases()
    sizes = [c.args[0] for c in cases]
    assert sizes[0] == min(sizes, key=np.prod)
    assert any(c.args[1].shape[2] != c.args[1].shape[3] for c in cases)
    assert any(c.args[1].shape[2] == c.args[1].shape[3] > 1 for c in cases)
    assert any(max(c.args[3]) > 1 for c in cases)
    assert any(c.args[4] == "SAME" and sum(convlab.same_padding(s[1], w.shape[0], st[0])) % 2
               for c in cases for s, w, st in [(c.args[0], c.args[1], c.args[3])])
    assert any(s[0] > 1 for s in sizes)


def test_import_convlab_imports_neither_exercises_nor_tensorflow():
    code = (
        "import sys, convlab\n"
        "assert 'convlab.exercises' not in sys.modules\n"
        "from convlab import exercises\n"
        "import convlab.exercises\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
