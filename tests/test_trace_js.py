"""The page's trace engine (``explorer_assets/trace.js``) against Python's ``convlab.trace``.

Node runs the JavaScript engine on a seeded grid of 520 settings across the five operations
(:mod:`convlab.page_engine`); every trace must equal Python's frame for frame (the same
grids, cells, roles, highlights, terms, captions and values), and its final values must equal
convlab's functions on the arrays it drew. Settings that ``trace`` refuses must be refused
by the page as well.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from convlab import page_engine
from convlab.trace import OPERATIONS

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")


def _jobs(count: int, seed: int) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(seed)
    jobs: list[tuple[str, dict]] = []
    ops = list(OPERATIONS)
    while len(jobs) < count:
        kw = page_engine.random_settings(rng)
        if page_engine.fits(kw) or len(jobs) % 10 == 0:  # about one in ten impossible
            jobs.append((ops[len(jobs) % len(ops)], kw))
    return jobs


@pytest.mark.parametrize("part", range(4))
def test_the_page_engine_repeats_python_frame_for_frame(part):
    jobs = _jobs(520, seed=2026)[part::4]
    check = page_engine.compare(jobs)
    assert sum(r["settings"] for r in check.rows) == len(jobs) == 130
    assert all(r["frames"] > 0 for r in check.rows)
    assert sum(r["refused"] for r in check.rows) < len(jobs) // 4


def test_the_grid_reaches_the_largest_setting():
    jobs = _jobs(520, seed=2026)
    assert max(max(kw["input_size"]) for _, kw in jobs) == 16
    assert {kw["channels"][0] for _, kw in jobs} == {1, 2, 3}
    assert {str(kw["padding"])[:2] for _, kw in jobs} == {"VA", "SA", "[["}
    assert sum(not page_engine.fits(kw) for _, kw in jobs) >= 10
    largest = {"input_size": 16, "kernel_size": 5, "channels": [3, 3], "padding": "SAME"}
    check = page_engine.compare([(op, largest) for op in OPERATIONS])
    assert [r["frames"] for r in check.rows] == [770, 227, 770, 774, 770]


def test_given_data_and_the_seed_mean_the_same_numbers():
    given = {"input_size": 6, "strides": 2, "padding": "VALID",
             "w": [[1, 2, 0], [0, -1, 1], [2, 0, 1]], "dy": [[1, -1], [2, 1]]}
    jobs = [("d_x_scatter", given), ("d_x_gather", given),
            ("conv2d_transpose", {**{k: v for k, v in given.items() if k != "dy"},
                                  "u": given["dy"]}),
            ("forward", {"input_size": 4, "seed": 12345, "x": [[1, 0, 2, 1]] * 4})]
    page_engine.compare(jobs)


def test_a_difference_is_caught(monkeypatch):
    real = page_engine.node_traces

    def off_by_one(jobs):
        out = real(jobs)
        out[0]["trace"]["frames"][1]["terms"][0] += " "
        return out

    monkeypatch.setattr(page_engine, "node_traces", off_by_one)
    with pytest.raises(AssertionError, match="frame 1, terms"):
        page_engine.compare([("forward", {"input_size": 3, "kernel_size": 2})])


def test_data_an_operation_does_not_read_is_refused():
    got = page_engine.node_traces([("d_w", {"x": [[1]], "input_size": 1, "kernel_size": 1,
                                            "w": [[2]]})])
    assert got == [{"error": "w is not used by d_w, which reads x and dy"}]
