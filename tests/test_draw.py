"""check_legible: the size a figure's text shows at in the book's 736 px column."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from convlab.draw import check_legible, displayed_scale


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _figure(width_in: float, fontsize: float, *, axis: bool = False):
    fig, ax = plt.subplots(figsize=(width_in, 2), dpi=100)
    ax.plot([0, 1], [0, 1])
    ax.text(0.1, 0.5, "cell", fontsize=fontsize)
    ax.set_title("title", fontsize=fontsize + 2)
    if not axis:
        ax.axis("off")
    return fig, ax


def test_a_narrow_figure_keeps_its_sizes():
    fig, _ = _figure(5, 10)
    assert check_legible(fig) == pytest.approx(10 * 100 / 72)
    assert displayed_scale(fig) == 1.0


def test_a_wide_figure_is_shrunk_to_the_column():
    fig, _ = _figure(14, 9)
    scale = displayed_scale(fig, tight=False)
    assert scale == pytest.approx(736 / 1400)
    assert displayed_scale(fig) > scale  # the tight box drops some of the margins
    with pytest.raises(ValueError, match=r"'cell', shows [0-9.]+ px tall"):
        check_legible(fig)


def test_small_text_fails_and_is_named():
    fig, ax = _figure(5, 10)
    ax.text(0.5, 0.2, "tiny", fontsize=6)
    with pytest.raises(ValueError, match=r"1 text\(s\).*'tiny', shows 8.3 px"):
        check_legible(fig)
    assert check_legible(fig, min_px=8.0) == pytest.approx(6 * 100 / 72)


def test_hidden_and_empty_texts_do_not_count():
    fig, ax = _figure(5, 10)
    ax.text(0.5, 0.2, "hidden", fontsize=4, visible=False)
    ax.text(0.5, 0.2, "  ", fontsize=4)
    ax.tick_params(labelsize=4)  # the axis is off: its tick labels are not drawn
    assert check_legible(fig) == pytest.approx(10 * 100 / 72)


def test_tick_labels_and_legends_count():
    fig, ax = _figure(5, 10, axis=True)
    ax.tick_params(labelsize=5)
    with pytest.raises(ValueError, match=r"6\.9 px"):
        check_legible(fig)
    ax.tick_params(labelsize=10)
    ax.plot([0, 1], [1, 0], label="a line")
    ax.legend(fontsize=6)
    with pytest.raises(ValueError, match="'a line'"):
        check_legible(fig)


def test_a_figure_without_text():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.axis("off")
    assert check_legible(fig) == float("inf")
