"""Command line: ``python -m convlab verify ...`` (also the ``convlab`` script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from convlab.verify import verify


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _padding(text: str) -> str | list[list[int]]:
    if text.upper() in ("VALID", "SAME"):
        return text.upper()
    accepted = f"padding must be VALID, SAME or 4 ints top,bottom,left,right; got {text!r}"
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(accepted) from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(accepted)
    return [[values[0], values[1]], [values[2], values[3]]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="convlab", description="Check every way of computing conv2d's gradients."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser(
        "verify",
        help="compute d_x and d_w every way on random data and compare",
        description="Compute d_x four ways and d_w three ways (numpy and TensorFlow) on "
        "seeded random data, compare each with a float64 reference, and check the adjoint "
        "identity. Exits 1 if any method disagrees.",
    )
    v.add_argument("--input", type=_ints, default=(2, 9, 9, 3),
                   help="input shape in data-format order (default 2,9,9,3)")
    v.add_argument("--filter", type=_ints, default=(3, 3, 3, 4),
                   help="filter shape KH,KW,C_in,C_out (default 3,3,3,4)")
    v.add_argument("--strides", type=_ints, default=(2,), help="1 or 2 ints (default 2)")
    v.add_argument("--padding", type=_padding, default="SAME",
                   help="VALID, SAME or top,bottom,left,right (default SAME)")
    v.add_argument("--dilations", type=_ints, default=(1,), help="1 or 2 ints (default 1)")
    v.add_argument("--data-format", default="NHWC", choices=["NHWC", "NCHW"])
    v.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    v.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu", "all"])
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--repeat", type=int, default=3, help="timed runs per method (default 3)")
    args = parser.parse_args(argv)

    try:
        report = verify(
            args.input, args.filter, list(args.strides), args.padding, list(args.dilations),
            args.data_format, args.dtype, args.device, args.seed, args.repeat,
        )
    except (ValueError, TypeError, RuntimeError) as err:
        print(f"convlab verify: error: {err}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
