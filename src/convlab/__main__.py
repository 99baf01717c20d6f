"""Command line: ``python -m convlab verify|bench ...`` (also the ``convlab`` script)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

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
        prog="convlab", description="Check, and time, every way of computing conv2d's gradients."
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
    b = sub.add_parser(
        "bench",
        help="time the numpy reference, TensorFlow and the via-conv2d methods",
        description="Time y, d_x and d_w every way on ResNet-like layers (batch 8), on the CPU "
        "and on a GPU when TensorFlow sees one; print the table and the numpy reference's "
        "targets, and write the results with a description of the machine as JSON. "
        "TensorFlow's CPU kernels are its stock Eigen ones, as in the tests "
        "(TF_ENABLE_ONEDNN_OPTS=0), unless --onednn or the environment says otherwise.",
    )
    b.add_argument("--sweep", action="store_true",
                   help="layers of every size, from 1x8x8x8 to the four large ones (make bench)")
    b.add_argument("--quick", action="store_true",
                   help="tiny layers, one run each: checks that everything runs, not speed")
    b.add_argument("--repeat", type=int, default=None,
                   help="timed runs per method and round (default 5; --quick: 1)")
    b.add_argument("--rounds", type=int, default=None,
                   help="passes over the methods of a layer (default 3; --quick: 1)")
    b.add_argument("--device", default="all", choices=["all", "auto", "cpu", "gpu"],
                   help="where the TensorFlow rows run (default all: CPU, and GPU if any)")
    b.add_argument("--json", type=Path, default=Path("bench.json"),
                   help="where to write the results (default bench.json)")
    b.add_argument("--tf32", action="store_true", help="allow TF32 for float32 on the GPU")
    b.add_argument("--onednn", action="store_true",
                   help="time TensorFlow's oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS=1)")
    b.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)

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


def _bench(args: argparse.Namespace) -> int:
    # must precede TensorFlow's import; without effect if TensorFlow is already loaded
    if args.onednn:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from convlab import bench

    quick = args.quick
    try:
        result = bench.run(
            bench.QUICK_LAYERS if quick else bench.SWEEP if args.sweep else bench.LAYERS,
            repeat=(1 if quick else 5) if args.repeat is None else args.repeat,
            rounds=(1 if quick else 3) if args.rounds is None else args.rounds,
            device=args.device, pause=0.0 if quick else 0.15, warm_up=0.0 if quick else 0.1,
            seed=args.seed, tf32=args.tf32,
        )
    except (ValueError, RuntimeError) as err:
        print(f"convlab bench: error: {err}", file=sys.stderr)
        return 2
    print(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(result.to_json() + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
