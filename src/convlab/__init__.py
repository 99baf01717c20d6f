"""convlab: the forward 2-D convolution and every way to compute its gradients.

The numpy reference mirrors TensorFlow's names and argument order::

    convlab.conv2d                  tf.nn.conv2d
    convlab.conv2d_backprop_input   tf.compat.v1.nn.conv2d_backprop_input
    convlab.conv2d_backprop_filter  tf.compat.v1.nn.conv2d_backprop_filter
    convlab.conv2d_transpose        tf.nn.conv2d_transpose

and adds the two gradients computed by conv2d alone (``grad_input_via_conv2d``,
``grad_filter_via_conv2d``). ``convlab.tf`` has the same names computed by TensorFlow;
it is imported on first use, so ``import convlab`` never imports TensorFlow.

``convlab.definitions`` writes the same sums as the maths does, on checked NHWC arrays:
loops, a window view with one contraction, a scatter tap by tap. The public functions
compute them with the tiled, multi-core engine of ``convlab._engine``; the tests hold
the two equal.
"""

from __future__ import annotations

import importlib
from typing import Any

from convlab._checks import Conv, conv_geometry
from convlab.geometry import output_size, same_padding, valid_input_sizes
from convlab.reference import (
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_loops,
    conv2d_transpose,
)
from convlab.verify import verify
from convlab.via_conv2d import grad_filter_via_conv2d, grad_input_via_conv2d

__version__ = "0.1.0"

__all__ = [
    "Conv",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv2d_loops",
    "conv2d_transpose",
    "conv_geometry",
    "grad_filter_via_conv2d",
    "grad_input_via_conv2d",
    "output_size",
    "same_padding",
    "valid_input_sizes",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in ("tf", "torch", "jax"):  # a framework is imported on first use only
        return importlib.import_module(f"convlab.{name}")
    raise AttributeError(f"module 'convlab' has no attribute {name!r}")
