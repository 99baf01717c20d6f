"""Command line: ``python -m convlab verify|bench|grade|export ...`` (also the ``convlab``
script).

Exit status: 0 when every method agrees, 1 when one disagrees (``verify``), 2 for bad input
(argparse's convention: a malformed option, a configuration convlab refuses, a request for
more memory than the machine has), 130 when interrupted. Every error is one line on stderr
naming the option, e.g. ``convlab verify: --strides: ...``; never a traceback. ``grade``
exits 0 once the class is graded, whatever the grades (:mod:`convlab.grade`); ``export``
writes an nbgrader source assignment (:mod:`convlab.export`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from convlab import _checks, _memory
from convlab.verify import verify

# verify()'s parameters and the options that set them; convlab's checks also say "input"
# and "filters" for the first two
VERIFY_OPTIONS = {"input_shape": "--input", "filter_shape": "--filter", "strides": "--strides",
                  "padding": "--padding", "dilations": "--dilations",
                  "data_format": "--data-format", "dtype": "--dtype", "device": "--device",
                  "seed": "--seed", "repeat": "--repeat", "backends": "--backends"}
_VERIFY_WORDS = {**VERIFY_OPTIONS, "input": "--input", "filters": "--filter"}
# bench.run()'s parameters that options set
BENCH_OPTIONS = {"repeat": "--repeat", "rounds": "--rounds", "device": "--device",
                 "seed": "--seed", "tf32": "--tf32"}
_MAX_RUNS = 1000  # timed runs of a method a --repeat or --rounds may ask for
_COMMANDS = ("verify", "bench", "grade", "export")


class _BadInput(Exception):
    """A one-line error about the command line (exit status 2); ``prog`` says whose."""

    def __init__(self, message: str, prog: str = "") -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, its errors raised as one line (no usage block) for :func:`main` to print."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        if message.endswith(": expected one argument"):
            option = message.split(":")[0].split("/")[-1]
            message += f" (write {option}=VALUE for a value that starts with -)"
        raise _BadInput(message, self.prog)


def _shown(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut short if long: the option's value as the error quotes it."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


def _ints(text: str, counts: tuple[int, ...], least: int, what: str,
          most: int | None = _checks.LIMIT) -> tuple[int, ...]:
    """The comma-separated ints of an option, each from ``least`` to ``most``, as many as
    one of ``counts``; ``what`` is the accepted form, for the error."""
    items = [v.strip() for v in text.split(",")]
    if not all(re.fullmatch(r"[+-]?[0-9]+", v) for v in items):
        raise argparse.ArgumentTypeError(f"must be {what}, got {_shown(text)}")
    try:
        values = tuple(int(v) for v in items)
    except ValueError:  # more digits than Python turns into an int
        raise argparse.ArgumentTypeError(
            f"must be {what}, got {_shown(text)}: too many digits") from None
    if min(values) < least:
        raise argparse.ArgumentTypeError(f"must be {what}, got {_shown(text)}")
    if most is not None and max(values) > most:
        limit = " (2**31 - 1, TensorFlow's limit)" if most == _checks.LIMIT else ""
        raise argparse.ArgumentTypeError(
            f"must be {what}, got {_shown(text)}: each int must be at most {most}{limit}")
    if len(values) not in counts:
        raise argparse.ArgumentTypeError(
            f"must be {what}, got {len(values)} int(s): {_shown(text)}")
    return values


def _shape(text: str) -> tuple[int, ...]:
    return _ints(text, (4,), 1, "4 positive ints separated by commas")


def _window(text: str) -> tuple[int, ...]:
    return _ints(text, (1, 2, 4), 1, "1, 2 or 4 positive ints separated by commas")


def _padding(text: str) -> str | list[list[int]]:
    if text.strip().upper() in ("VALID", "SAME"):
        return text.strip().upper()
    t, b, left, r = _ints(text, (4,), 0, "VALID, SAME or 4 non-negative ints "
                                         "top,bottom,left,right")
    return [[t, b], [left, r]]


def _seed(text: str) -> int:
    return _ints(text, (1,), 0, "a non-negative int", most=None)[0]


def _backend_names(text: str) -> tuple[str, ...]:
    """``numpy,torch``: backends of verify, each once, from :data:`convlab.verify.BACKENDS`."""
    from convlab.verify import BACKENDS

    names = [v.strip().lower() for v in text.split(",")]
    if not all(n in BACKENDS for n in names):
        raise argparse.ArgumentTypeError(
            f"must be names from {', '.join(BACKENDS)} separated by commas, got {_shown(text)}")
    return tuple(dict.fromkeys(names))


def _runs(text: str) -> int:
    return _ints(text, (1,), 1, f"a positive int up to {_MAX_RUNS}", most=_MAX_RUNS)[0]


def _seconds(text: str) -> int:
    return _ints(text, (1,), 1, "a positive whole number of seconds", most=86_400)[0]


def _jobs(text: str) -> int:
    return _ints(text, (1,), 1, "a positive int up to 1024", most=1024)[0]


def _points(text: str) -> dict[str, float]:
    """``LABEL=N,LABEL=N``: points of exercises by label."""
    accepted = "LABEL=N pairs separated by commas, N a non-negative number"
    out = {}
    for item in text.split(","):
        label, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not label.strip() or not math.isfinite(number) or number < 0:
            raise argparse.ArgumentTypeError(f"must be {accepted}, got {_shown(text)}")
        out[label.strip()] = number
    return out


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="convlab", description="Check, and time, every way of computing conv2d's gradients."
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands",
                                metavar="{verify,bench,grade,export}")
    v = sub.add_parser(
        "verify",
        help="compute d_x and d_w every way on random data and compare",
        description="Compute d_x four ways and d_w three ways (numpy, and TensorFlow, "
        "PyTorch and JAX where installed) on seeded random data, compare each with a "
        "float64 reference, and check the adjoint identity. Exits 1 if any method "
        "disagrees, 2 for bad input.",
    )
    v.add_argument("--input", type=_shape, default=(2, 9, 9, 3),
                   help="input shape in data-format order (default 2,9,9,3)")
    v.add_argument("--filter", type=_shape, default=(3, 3, 3, 4),
                   help="filter shape KH,KW,C_in,C_out (default 3,3,3,4)")
    v.add_argument("--strides", type=_window, default=(2,), help="1, 2 or 4 ints (default 2)")
    v.add_argument("--padding", type=_padding, default="SAME",
                   help="VALID, SAME or top,bottom,left,right (default SAME)")
    v.add_argument("--dilations", type=_window, default=(1,), help="1, 2 or 4 ints (default 1)")
    v.add_argument("--data-format", default="NHWC", choices=["NHWC", "NCHW"])
    v.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    v.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu", "all"],
                   help="where the frameworks' rows run: auto (a GPU where the framework "
                   "sees one), cpu, gpu (every framework that sees one) or all")
    v.add_argument("--backends", type=_backend_names, default=None,
                   help="numpy,tensorflow,torch,jax or a part of it (default: numpy and "
                   "every framework installed)")
    v.add_argument("--seed", type=_seed, default=0)
    v.add_argument("--repeat", type=_runs, default=3, help="timed runs per method (default 3)")
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
    b.add_argument("--repeat", type=_runs, default=None,
                   help="timed runs per method and round (default 5; --quick: 1)")
    b.add_argument("--rounds", type=_runs, default=None,
                   help="passes over the methods of a layer (default 3; --quick: 1)")
    b.add_argument("--device", default="all", choices=["all", "auto", "cpu", "gpu"],
                   help="where the TensorFlow rows run (default all: CPU, and GPU if any)")
    b.add_argument("--json", type=Path, default=Path("bench.json"),
                   help="where to write the results (default bench.json); checked before "
                   "the run")
    b.add_argument("--tf32", action="store_true", help="allow TF32 for float32 on the GPU")
    b.add_argument("--onednn", action="store_true",
                   help="time TensorFlow's oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS=1)")
    b.add_argument("--seed", type=_seed, default=0)
    g = sub.add_parser(
        "grade",
        help="run a class's handed-in notebooks and grade every checked exercise",
        description="Run every SUBMISSIONS/<student>/<notebook>.ipynb in a fresh kernel "
        "(a time limit per cell) and record each checked exercise's result: one CSV row "
        "per exercise of each notebook, and an HTML report per student and per exercise. "
        "Exits 0 once the class is graded, whatever the grades; 2 for bad input.",
    )
    g.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                   help="a folder with one folder per student, holding their notebooks")
    g.add_argument("--out", type=Path, default=Path("grades.csv"),
                   help="where to write the CSV (default grades.csv)")
    g.add_argument("--html", type=Path, default=None, help="where to write the HTML report")
    g.add_argument("--timeout", type=_seconds, default=60,
                   help="seconds each cell may run (default 60)")
    g.add_argument("--jobs", type=_jobs, default=None,
                   help="notebooks run at once (default: the number of cores)")
    g.add_argument("--handout", type=Path, default=None,
                   help="the student edition as handed out (e.g. _build/student): which "
                   "exercises each notebook should hold (default: the book's chapters "
                   "when run in a convlab checkout, else each notebook's own cells)")
    g.add_argument("--points", type=_points, default={},
                   help="points per exercise, LABEL=N,LABEL=N (default 1 each)")
    e = sub.add_parser(
        "export",
        help="write the student edition as an nbgrader source assignment",
        description="Write OUTDIR/source/<chapter>/<chapter>.ipynb for each chapter with a "
        "checked exercise: solution regions and autograder cells that call the checkers "
        "(then run `nbgrader generate_assignment <chapter>` in OUTDIR).",
    )
    e.add_argument("outdir", type=Path, metavar="OUTDIR")
    e.add_argument("--root", type=Path, default=Path.cwd(),
                   help="the book's root, holding _toc.yml (default: here)")
    e.add_argument("--assignment", default=None,
                   help="one assignment holding every chapter (default: one per chapter)")
    e.add_argument("--points", type=_points, default={},
                   help="points per exercise, LABEL=N,LABEL=N (default 1 each)")
    e.add_argument("--force", action="store_true", help="overwrite notebooks already there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``convlab verify``, ``bench``, ``grade`` or ``export``; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 all agree, 1 a method disagrees, 2 bad input or too little memory, 130
        interrupted, 141 the reader of the output went away. ``--help`` exits 0 through
        ``SystemExit`` as argparse does.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in _COMMANDS), None)
    prog = f"convlab {command}" if command else "convlab"
    try:
        args = _parser().parse_args(argv)
        run = {"verify": _verify, "bench": _bench, "grade": _grade, "export": _export}
        return run[args.command](args)
    except _BadInput as err:
        # argparse's top-level parser reports a subcommand's unrecognized arguments
        return _fail(f"{prog if err.prog in ('', 'convlab') else err.prog}: {err}")
    except KeyboardInterrupt:
        return _fail(f"{prog}: interrupted", 130)
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): say nothing, and stop Python's own complaint
        # when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _fail(line: str, status: int = 2) -> int:
    print(re.sub(r"\s*\n\s*", " ", line.strip()), file=sys.stderr)
    return status


def _explained(err: BaseException, words: dict[str, str]) -> _BadInput:
    """``err`` as one line naming the option of the argument it is about.

    convlab's errors begin with the argument's name ("strides must be ...", "input has
    ...", "device='gpu' but ...") or name a parameter of verify() that only it has
    ("with filter_shape ..."); any other message is not about one option.
    """
    message = str(err) or type(err).__name__
    names = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
    found = re.match(rf"({names})\b", message)
    own = [n for n in words if "_" in n]  # names no other message uses
    if not found and own:  # then one anywhere ("with filter_shape (3, 3, 3, 4), ...")
        found = re.search(rf"\b({'|'.join(own)})\b", message)
    return _BadInput(f"{words[found.group(1)]}: {message}" if found else f"error: {message}")


def _unexpected(err: BaseException) -> _BadInput:
    if type(err).__name__ == "ResourceExhaustedError":  # TensorFlow's out of memory
        return _BadInput(f"out of memory in TensorFlow: {err}")
    return _BadInput(f"error: {type(err).__name__}: {err}")


def _needed_bytes(args: argparse.Namespace) -> int | None:
    """A lower bound on what verify() holds at once: x, w and dy in the dtype, their
    float64 copies, and the float64 references y, d_x and d_w; None if the sizes are refused
    (verify() then says why)."""
    try:
        conv = _checks.conv_geometry(args.input, args.filter, list(args.strides), args.padding,
                                     args.data_format, list(args.dilations))
    except Exception:  # verify() reports the same arguments by name
        return None
    elements = sum(math.prod(s) for s in (args.input, args.filter, conv.output_shape))
    return elements * (_checks.float_dtype("dtype", args.dtype).itemsize + 2 * 8)


# numpy's words for an array too large to address at all
_TOO_BIG = r"array is too big|Maximum allowed dimension exceeded|maximum supported dimension"


def _verify(args: argparse.Namespace) -> int:
    smaller = "use a smaller --input, --filter, --padding, --strides or --dilations"
    need, have = _needed_bytes(args), _memory.available()
    if need is not None and have is not None and need > have:
        raise _BadInput(f"the request needs at least {_memory.size(need)} (x, w and dy, their "
                        f"float64 copies and references), more than the {_memory.size(have)} "
                        f"available; {smaller}")
    try:
        report = verify(
            args.input, args.filter, list(args.strides), args.padding, list(args.dilations),
            args.data_format, args.dtype, args.device, args.seed, args.repeat,
            backends=args.backends,
        )
    except (ValueError, TypeError, RuntimeError) as err:
        if not re.search(_TOO_BIG, str(err)):
            raise _explained(err, _VERIFY_WORDS) from None
        raise _BadInput(f"the request needs an array larger than numpy can make ({err}); "
                        f"{smaller}") from None
    except MemoryError as err:
        room = f", {_memory.size(have)} available" if have is not None else ""
        raise _BadInput(f"the request needs more memory than this process can get "
                        f"({err or 'MemoryError'}{room}); {smaller}") from None
    except Exception as err:  # anything left is reported on one line all the same
        raise _unexpected(err) from None
    print(report)
    return 0 if report.ok else 1


def _json_writable(path: Path, option: str = "--json") -> None:
    """Make sure ``option``'s file can be written, leaving nothing behind; raise
    :class:`_BadInput`."""

    def bad(why: str) -> _BadInput:
        return _BadInput(f"{option}: cannot write {_shown(str(path))}: {why}")

    made: list[Path] = []
    existed = os.path.lexists(path)
    try:
        if path.is_dir():
            raise bad("it is a directory")
        missing = [p for p in path.parents if not p.exists()]
        for parent in reversed(missing):
            parent.mkdir()
            made.append(parent)
        # appending changes nothing; O_NONBLOCK: a FIFO with no reader fails, never hangs
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o666))
    except OSError as err:
        raise bad(err.strerror or str(err)) from None
    except ValueError as err:  # e.g. a NUL in the path
        raise bad(str(err)) from None
    finally:
        with contextlib.suppress(OSError):
            if not existed and os.path.lexists(path):
                path.unlink()
            for parent in reversed(made):
                parent.rmdir()


def _bench(args: argparse.Namespace) -> int:
    _json_writable(args.json)
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
    except (ValueError, TypeError, RuntimeError) as err:
        raise _explained(err, BENCH_OPTIONS) from None
    except MemoryError as err:
        raise _BadInput(f"out of memory: {err or 'MemoryError'}") from None
    except Exception as err:  # anything left is reported on one line all the same
        raise _unexpected(err) from None
    print(result)
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json() + "\n", encoding="utf-8")
    except OSError as err:
        raise _BadInput(f"--json: cannot write {_shown(str(args.json))}: "
                        f"{err.strerror or err}") from None
    print(f"\nwrote {args.json}")
    return 0


def _folder(path: Path, option: str) -> None:
    try:
        if not path.is_dir():
            raise _BadInput(f"{option}: {_shown(str(path))} is not a folder")
        os.listdir(path)
    except OSError as err:
        raise _BadInput(f"{option}: cannot read {_shown(str(path))}: "
                        f"{err.strerror or err}") from None
    except ValueError as err:  # e.g. a NUL in the path
        raise _BadInput(f"{option}: cannot read {_shown(str(path))}: {err}") from None


def _grade(args: argparse.Namespace) -> int:
    _folder(args.submissions, "SUBMISSIONS")
    if args.handout is not None:
        _folder(args.handout, "--handout")
    for path, option in ((args.out, "--out"), (args.html, "--html")):
        if path is not None:
            _json_writable(path, option)
    try:
        from convlab import grade
    except ImportError as err:
        raise _BadInput(f"error: grading needs the book extra (nbclient, ipykernel): {err}"
                        ) from None
    try:
        found = grade.submissions(args.submissions)
    except OSError as err:
        raise _BadInput(f"SUBMISSIONS: cannot read {_shown(str(args.submissions))}: "
                        f"{err.strerror or err}") from None
    if not found:
        raise _BadInput(f"SUBMISSIONS: no notebooks in {_shown(str(args.submissions))} "
                        "(expected SUBMISSIONS/<student>/<notebook>.ipynb)")

    def progress(nb: grade.Notebook) -> None:
        got, most = nb.score
        print(f"{nb.student}/{nb.name}.ipynb: {got:g} of {most:g} points "
              f"({nb.seconds:.1f} s)" + "".join(f"; {note}" for note in nb.notes), flush=True)

    grades = grade.grade(args.submissions, timeout=args.timeout, jobs=args.jobs,
                         handout=args.handout, points=args.points, progress=progress)
    written = []
    for path, option, write in ((args.out, "--out", grades.write_csv),
                                (args.html, "--html", None)):
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if write is not None:
                write(path)
            else:
                path.write_text(grades.html(), encoding="utf-8")
        except OSError as err:
            raise _BadInput(f"{option}: cannot write {_shown(str(path))}: "
                            f"{err.strerror or err}") from None
        written.append(str(path))
    print(f"{grades.summary()}; wrote {', '.join(written)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    _folder(args.root, "--root")
    if args.assignment is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.assignment):
        raise _BadInput(f"--assignment: must be letters, digits, '.', '_' or '-', got "
                        f"{_shown(args.assignment)}")
    if not (args.root / "_toc.yml").is_file():
        raise _BadInput(f"--root: {_shown(str(args.root))} holds no _toc.yml (the book's "
                        "root)")
    try:
        from convlab import export
    except ImportError as err:
        raise _BadInput(f"error: exporting needs the book extra (jupytext): {err}") from None
    try:
        written = export.build_nbgrader(args.outdir, args.root, assignment=args.assignment,
                                        points=args.points, force=args.force)
    except FileExistsError as err:
        raise _BadInput(f"OUTDIR: {err}") from None
    except ValueError as err:  # a chapter the export cannot read
        raise _BadInput(f"--root: {err}") from None
    except OSError as err:
        raise _BadInput(f"OUTDIR: cannot write {_shown(str(args.outdir))}: "
                        f"{err.strerror or err}") from None
    for path in written:
        print(path)
    print(f"wrote {len(written)} nbgrader source notebook{'s' * (len(written) != 1)}; "
          f"next: cd {args.outdir} && nbgrader generate_assignment ASSIGNMENT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
