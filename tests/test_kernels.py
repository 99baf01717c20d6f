"""convlab.kernels: which CPU kernels compute what, probed in fresh TensorFlow processes."""

from __future__ import annotations

import pytest

from convlab import kernels

pytestmark = pytest.mark.tf

CASES = [
    kernels.Case("conv2d", dilations=2),
    kernels.Case("conv2d_backprop_input", dilations=2),
    kernels.Case("conv2d_backprop_filter", strides=2, dilations=2, padding="VALID"),
    kernels.Case("autodiff", dilations=2, padding="explicit"),
    kernels.Case("conv2d", data_format="NCHW"),
    kernels.Case("conv2d_transpose", strides=2, dilations=2, dtype="float64"),
]


@pytest.fixture(scope="module")
def eigen(ctf):
    return kernels.probe(CASES, onednn=False)


@pytest.fixture(scope="module")
def onednn(ctf):
    return kernels.probe(CASES, onednn=True)


def test_describe_names_every_setting():
    case = kernels.Case("conv2d_transpose", "NCHW", 2, 2, "explicit", "float64")
    assert case.describe() == "conv2d_transpose, NCHW, stride 2, dilation 2, explicit, float64"


def test_eigen_kernels_refuse_dilated_gradients_and_nchw(eigen):
    assert eigen.kernels == "Eigen" and eigen.setting == "0"
    ran = [o.ran for o in eigen.outcomes]
    assert ran == [True, False, False, False, False, False]
    assert eigen.outcomes[0].agrees is True
    assert "dilation" in eigen.outcomes[1].error


def test_onednn_computes_float32_dilated_gradients_but_not_explicit_pads(onednn):
    assert onednn.kernels == "oneDNN" and onednn.setting == "1"
    ran = [o.ran for o in onednn.outcomes]
    assert ran == [True, True, True, False, True, False]  # float64 falls back to Eigen
    assert all(o.agrees for o in onednn.outcomes if o.ran)


def test_probe_helpers_select_by_field(eigen):
    assert eigen.all_ran(op="conv2d", data_format="NHWC")
    assert eigen.none_ran(data_format="NCHW")
    assert not eigen.all_ran(op="nothing")


def test_default_kernels_is_one_of_the_two(ctf):
    assert kernels.default_kernels() in ("Eigen", "oneDNN")
