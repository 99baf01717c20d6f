"""Grade a class: run every handed-in student notebook, record each checked exercise.

``convlab grade SUBMISSIONS`` (see :func:`grade`) reads ``SUBMISSIONS/<student>/<name>.ipynb``,
runs each notebook from the top in a fresh Python kernel (in the notebook's folder, a time
limit on each cell), and reads what the checkers of its ``exercise-stub`` cells showed. The
result is one row per checked exercise of each handed-in notebook, written as CSV
(:meth:`Grades.write_csv`) and as a self-contained HTML report (:meth:`Grades.html`): per
student, and per exercise with how many made each classic mistake.

Which exercises a notebook should hold (so that a deleted cell is a row, not a gap):

1. with ``handout``, those of the notebook of the same name there (the student edition as
   it was handed out: ``make student`` writes it to ``_build/student``);
2. else, inside a convlab checkout (``root``, by default the current folder when it holds
   ``_toc.yml``), those of the student edition of the chapter of the same name;
3. else, those the notebook itself holds: its ``exercise-stub`` cells' metadata.

An exercise is found by the label in its cell's metadata (``{"convlab": {"exercise":
LABEL, "checker": NAME}}``, written by :mod:`convlab.student`); a cell whose metadata was
lost still counts when it shows the result of a checker that no other expected exercise
uses. The result is the last one the cell showed: the checker's
``application/vnd.convlab.check+json`` output, or its text (a printed result) where there
is none. Outputs handed in are cleared before the run, so only what the run shows counts.

What the grader itself can diagnose (:data:`GRADER_DIAGNOSES`): ``missing``, ``not_run``,
``cell_timeout``, ``kernel_died``, ``cell_error``, ``no_result``, ``unreadable``. A cell that
does not finish within the limit is interrupted and the run goes on with the next cell; a
kernel that ignores the interrupt, or dies, ends the notebook's run, and what ran is
graded. The kernel and every process it started are killed at the end.

The grader trusts the kernel: a student's code runs with the grader's rights and could
fake a checker's output. Grade in a container or as a user who can read nothing else, as
with any autograder that runs students' code.

Needs nbclient, nbformat and ipykernel (the ``book`` extra); ``import convlab`` never
imports this.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import html
import io
import json
import os
import re
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "GRADER_DIAGNOSES", "MIME_TYPE", "Exercise", "Grades", "Notebook", "Row",
           "expected_exercises", "fragment", "grade", "read_results", "submissions"]

MIME_TYPE = "application/vnd.convlab.check+json"

#: The CSV's columns, in order.
COLUMNS = ("student", "notebook", "exercise", "checker", "passed", "diagnosis", "points",
           "max_points", "case", "cases", "message")

#: What the grader reports when no checker result is there to read.
GRADER_DIAGNOSES: dict[str, str] = {
    "missing": "the exercise's cell is not in the notebook (deleted, or its metadata removed)",
    "not_run": "the cell never ran: the kernel died or stopped before it",
    "cell_timeout": "the cell did not finish within the time limit",
    "kernel_died": "the kernel died while the cell ran (os._exit, a crash, out of memory)",
    "cell_error": "the cell raised an error before its checker showed a result",
    "no_result": "the cell ran but showed no result of its checker",
    "unreadable": "the file is not a notebook that can be read",
}

_STUB_TAG = "exercise-stub"
_MAX_STREAM = 200_000  # characters of printed output kept per cell
_HEADLINE = re.compile(r"^check_(\w+): (?:(passed) \((\d+) of (\d+) cases\)|(not implemented "
                       r"yet)|failed \[(\w+)\])", re.MULTILINE)


@dataclass(frozen=True)
class Exercise:
    """A checked exercise: its label in the book and its checker (a key of CHECKERS)."""

    label: str
    checker: str


@dataclass(frozen=True)
class Row:
    """One checked exercise of one handed-in notebook: a line of the CSV."""

    student: str
    notebook: str
    exercise: str
    checker: str
    passed: bool
    diagnosis: str
    points: float
    max_points: float
    message: str
    case: int | None = None
    cases: int | None = None


@dataclass
class Notebook:
    """How one handed-in notebook was graded: its rows, what went wrong, how long it took."""

    student: str
    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    expected_from: str = ""

    @property
    def score(self) -> tuple[float, float]:
        """(points, the most points) of this notebook."""
        return (sum(r.points for r in self.rows), sum(r.max_points for r in self.rows))


# --- what a notebook should hold -----------------------------------------------------------


def _stub_exercises(nb: Any) -> list[Exercise]:
    """The exercises of the ``exercise-stub`` cells of ``nb`` (from their metadata)."""
    found = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("convlab")
        if (isinstance(meta, dict) and isinstance(meta.get("exercise"), str)
                and isinstance(meta.get("checker"), str)):
            exercise = Exercise(meta["exercise"], meta["checker"])
            if exercise not in found:
                found.append(exercise)
    return found


class _Expected:
    """Where each notebook's list of exercises comes from (see the module's docstring)."""

    def __init__(self, handout: Path | None, root: Path | None) -> None:
        self.handout = handout
        self.root = root
        self.cache: dict[str, tuple[list[Exercise], str] | None] = {}
        self.lock = threading.Lock()
        self.book: Any = None

    def __call__(self, name: str) -> tuple[list[Exercise], str] | None:
        with self.lock:
            if name not in self.cache:
                self.cache[name] = self._find(name)
            return self.cache[name]

    def _find(self, name: str) -> tuple[list[Exercise], str] | None:
        import nbformat

        if self.handout is not None:
            path = self.handout / f"{name}.ipynb"
            if path.is_file():
                try:
                    nb = nbformat.read(path, as_version=4)
                except Exception:  # a broken handout: the notebooks speak for themselves
                    return None
                return _stub_exercises(nb), f"the handout's {path.name}"
            return None
        if self.root is None:
            return None
        from convlab import student
        from convlab.notebooks import Book

        try:
            chapter = next((p for p in student.chapters(self.root) if p.stem == name), None)
            if chapter is None or chapter.stem in student.INSTRUCTOR_ONLY:
                return None
            self.book = self.book or Book.read(self.root)
            nb = student.student_notebook(chapter, self.book)
        except (ImportError, OSError, ValueError, SyntaxError):
            return None
        return _stub_exercises(nb), f"the student edition of {chapter.relative_to(self.root)}"


def expected_exercises(name: str, handout: Path | None = None,
                       root: Path | None = None) -> list[Exercise] | None:
    """The exercises a notebook called ``name``.ipynb should hold: from ``handout`` (a
    folder of the student edition as handed out), else from the chapter of that name in the
    book at ``root``; None when neither knows the notebook."""
    found = _Expected(handout, root)(name)
    return None if found is None else found[0]


# --- reading the checkers' results ---------------------------------------------------------


def _result(payload: Any) -> dict[str, Any] | None:
    """A checker's JSON output, checked field by field; None when it is not one."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, dict):
        return None
    checker, passed, diagnosis = (payload.get(k) for k in ("checker", "passed", "diagnosis"))
    if not (isinstance(checker, str) and isinstance(passed, bool) and isinstance(diagnosis, str)):
        return None
    message = payload.get("message")
    case, cases = payload.get("case"), payload.get("cases")
    return {"checker": checker.removeprefix("check_"), "passed": passed,
            "diagnosis": diagnosis, "message": message if isinstance(message, str) else "",
            "case": case if type(case) is int else None,
            "cases": cases if type(cases) is int else None}


def _text_results(text: str) -> list[dict[str, Any]]:
    """Checker results printed as text (``print(result)``): their headlines."""
    found = []
    for match in _HEADLINE.finditer(text):
        checker, passed, cases, _, not_yet, code = (match.group(i) for i in range(1, 7))
        diagnosis = "ok" if passed else "not_implemented" if not_yet else code
        message = text[match.end():].split("\n", 1)[-1] if "\n" in text[match.end():] else ""
        found.append({"checker": checker, "passed": bool(passed), "diagnosis": diagnosis,
                      "message": message.strip(), "case": None,
                      "cases": int(cases) if cases else None})
    return found


def read_results(cell: Any) -> list[dict[str, Any]]:
    """The checker results a run of ``cell`` showed, in order: from the checker's JSON
    output where there is one, else from a displayed or printed result's text."""
    found = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            payload = _result(data.get(MIME_TYPE)) if MIME_TYPE in data else None
            if payload is not None:
                found.append(payload)
            elif isinstance(data.get("text/plain"), str):
                found.extend(_text_results(data["text/plain"]))
        elif kind == "stream" and out.get("name") == "stdout":
            found.extend(_text_results(str(out.get("text", ""))))
    return found


# --- running one notebook ------------------------------------------------------------------


@dataclass
class _Run:
    status: dict[int, str] = field(default_factory=dict)  # cell index -> how it ended
    notes: list[str] = field(default_factory=list)
    stopped: str = ""  # why the cells after the last one run never ran


class _Kernels:
    """The process groups of the kernels now running, to kill on an interrupt."""

    def __init__(self) -> None:
        self.groups: set[int] = set()
        self.lock = threading.Lock()

    def add(self, pgid: int | None) -> None:
        if pgid and pgid != os.getpgid(0):
            with self.lock:
                self.groups.add(pgid)

    def kill(self, pgid: int | None) -> None:
        if not pgid or pgid == os.getpgid(0):
            return
        with self.lock:
            self.groups.discard(pgid)
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)

    def kill_all(self) -> None:
        with self.lock:
            groups = list(self.groups)
        for pgid in groups:
            self.kill(pgid)


_KERNELS = _Kernels()


def _where(index: int, cell: Any) -> str:
    first = next((line.strip() for line in str(cell.get("source", "")).splitlines()
                  if line.strip()), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"cell {index + 1} ({first!r})" if first else f"cell {index + 1}"


def _client_class() -> Any:
    from nbclient import NotebookClient

    class Client(NotebookClient):  # type: ignore[misc]
        """Keeps at most _MAX_STREAM printed characters of a cell (an endless print loop
        must not fill the grader's memory); results and errors are always kept."""

        printed: dict[int, int]

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None,
                   cell_index: int) -> Any:
            if msg.get("msg_type") == "stream":
                if not hasattr(self, "printed"):
                    self.printed = {}
                size = len(str(msg.get("content", {}).get("text", "")))
                self.printed[cell_index] = self.printed.get(cell_index, 0) + size
                if self.printed[cell_index] > _MAX_STREAM:
                    return None
            return super().output(outs, msg, display_id, cell_index)

    return Client


def _leftover_output_tasks() -> list[asyncio.Task[Any]]:
    """nbclient's tasks still reading a timed-out cell's outputs: they end when the kernel
    says the cell is over."""
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()
            and getattr(t.get_coro(), "__qualname__", "").endswith("_poll_output_msg")]


async def _execute(nb: Any, folder: Path, timeout: float, log: io.TextIOBase,
                   env: dict[str, str]) -> _Run:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run()
    client = _client_class()(
        nb, timeout=max(1, round(timeout)), allow_errors=True, kernel_name="python3",
        interrupt_on_timeout=False, shutdown_kernel="immediate", record_timing=False,
        resources={"metadata": {"path": str(folder)}})
    grace = max(2.0, min(timeout, 10.0))
    pgid = None
    try:
        async with client.async_setup_kernel(env=env, stdout=log, stderr=log):
            pgid = getattr(getattr(client.km, "provisioner", None), "pgid", None)
            _KERNELS.add(pgid)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if "skip-execution" in cell.metadata.get("tags", []):
                    continue  # nbclient skips these; they never run
                try:
                    await client.async_execute_cell(cell, index, execution_count=index + 1)
                except CellTimeoutError:
                    run.status[index] = "timeout"
                    run.notes.append(f"{_where(index, cell)} did not finish within "
                                     f"{timeout:g} s")
                    await client.km.interrupt_kernel()
                    leftover = _leftover_output_tasks()
                    done = False
                    if leftover:
                        _, pending = await asyncio.wait(leftover, timeout=grace)
                        done = not pending
                        for task in pending:
                            task.cancel()
                    if not done:
                        run.notes.pop()  # said again, with the reason, as why it stopped
                        run.stopped = (f"{_where(index, cell)} did not finish within "
                                       f"{timeout:g} s and ignored the interrupt")
                        break
                    continue
                except DeadKernelError:
                    run.status[index] = "died"
                    run.stopped = f"the kernel died in {_where(index, cell)}"
                    break
                errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                run.status[index] = "error" if errors else "ok"
    except DeadKernelError:  # while starting
        run.stopped = "the kernel died as it started"
    except Exception as err:  # the grader lost the kernel (or never had it): grade what ran
        run.stopped = f"the grader lost the kernel: {type(err).__name__}: {err}"[:300]
    finally:
        _KERNELS.kill(pgid)  # whatever the student's code left running
    if run.stopped:
        run.notes.append(run.stopped)
    return run


def _kernel_env(jobs: int, timeout: float) -> dict[str, str]:
    env = dict(os.environ)
    # a checker's own limit on each call of the student's function, below the cell's, so
    # that an endless loop in a function gets the checker's diagnosis and the run goes on
    env.setdefault("CONVLAB_CHECK_TIMEOUT", f"{max(1.0, timeout / 3):g}")
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)  # parallel kernels do not fight over the cores
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _last_line(log: io.TextIOBase) -> str:
    log.flush()
    log.seek(0)
    lines = [line.strip() for line in log.read().splitlines()
             if line.strip() and "without encryption" not in line]
    return lines[-1][:200] if lines else ""


# --- one notebook's rows -------------------------------------------------------------------


def _describe_error(cell: Any) -> str:
    error: dict[str, Any] = next(
        (o for o in cell.get("outputs", []) if o.get("output_type") == "error"), {})
    text = f"{error.get('ename', 'an error')}: {error.get('evalue', '')}".strip().rstrip(":")
    return text if len(text) <= 300 else text[:299] + "…"


def _rows(student: str, name: str, nb: Any, run: _Run, expected: list[Exercise],
          points: Mapping[str, float], timeout: float) -> list[Row]:
    cells = nb.cells
    by_label: dict[str, list[int]] = {}
    unlabelled: list[int] = []
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("convlab")
        if isinstance(meta, dict) and isinstance(meta.get("exercise"), str):
            by_label.setdefault(meta["exercise"], []).append(index)
        elif cell.cell_type == "code":
            unlabelled.append(index)
    checkers = Counter(e.checker for e in expected)
    rows = []
    for exercise in expected:
        most = float(points.get(exercise.label, 1.0))

        def row(passed: bool, diagnosis: str, message: str, case: int | None = None,
                cases: int | None = None, exercise: Exercise = exercise,
                most: float = most) -> Row:
            return Row(student, name, exercise.label, exercise.checker, passed, diagnosis,
                       most if passed else 0.0, most, message, case, cases)

        indices = by_label.get(exercise.label, [])
        pool = indices or (unlabelled if checkers[exercise.checker] == 1 else [])
        results = [(i, r) for i in pool for r in read_results(cells[i])
                   if r["checker"] == exercise.checker]
        if results:
            index, found = results[-1]
            message = found["message"]
            if not indices:
                message = (f"(found in {_where(index, cells[index])}, whose exercise "
                           f"metadata was removed)\n{message}").rstrip()
            rows.append(row(found["passed"], found["diagnosis"], message, found["case"],
                            found["cases"]))
            continue
        if not indices:
            rows.append(row(False, "missing", f"no cell of this notebook holds exercise "
                            f"{exercise.label} (its {_STUB_TAG} cell was deleted, or its "
                            "metadata removed)"))
            continue
        index = indices[-1]
        where = _where(index, cells[index])
        status = run.status.get(index)
        if status == "timeout":
            rows.append(row(False, "cell_timeout",
                            f"{where} did not finish within {timeout:g} s"))
        elif status == "died":
            rows.append(row(False, "kernel_died", f"the kernel died while {where} ran"))
        elif status == "error":
            rows.append(row(False, "cell_error", f"{where} raised {_describe_error(cells[index])}"
                            f" before check_{exercise.checker} showed a result"))
        elif status == "ok":
            rows.append(row(False, "no_result", f"{where} ran but showed no result of "
                            f"check_{exercise.checker} (is `result` still its last line?)"))
        else:
            why = run.stopped or "it is tagged skip-execution"
            rows.append(row(False, "not_run", f"{where} never ran: {why}"))
    return rows


def _grade_one(student: str, path: Path, expected: _Expected, timeout: float,
               points: Mapping[str, float], env: dict[str, str]) -> Notebook:
    import nbformat

    start = time.perf_counter()
    name = path.stem
    graded = Notebook(student, name)
    found = expected(name)
    try:
        nb = nbformat.read(path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
        for number, cell in enumerate(nb.cells, 1):
            if (not isinstance(cell, dict) or not isinstance(cell.get("source", ""), str)
                    or cell.get("cell_type") not in ("code", "markdown", "raw")):
                raise ValueError(f"its cell {number} is not a notebook cell")
            if not isinstance(cell.get("metadata"), dict):
                cell["metadata"] = nbformat.NotebookNode()
            cell.setdefault("source", "")
    except Exception as err:  # not JSON, not a notebook, unreadable: say so, go on
        why = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        graded.notes.append(f"not a notebook that can be read ({why})")
        exercises = found[0] if found else []
        graded.expected_from = found[1] if found else ""
        graded.rows = [Row(student, name, e.label, e.checker, False, "unreadable",
                           0.0, float(points.get(e.label, 1.0)), f"not a notebook: {why}")
                       for e in exercises] or [
            Row(student, name, "", "", False, "unreadable", 0.0, 0.0, f"not a notebook: {why}")]
        graded.seconds = time.perf_counter() - start
        return graded
    own = _stub_exercises(nb)
    exercises, graded.expected_from = (
        found if found and found[0] else (own, "the notebook's own cells"))
    if not exercises:
        graded.notes.append("no checked exercises: not run")
        graded.seconds = time.perf_counter() - start
        return graded
    for cell in nb.cells:  # only what this run shows counts
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        run = asyncio.run(_execute(nb, path.parent, timeout, log, env))
        if run.stopped.startswith(("the kernel died", "the grader lost")):
            last = _last_line(log)
            if last:
                run.notes.append(f"the kernel's last words: {last}")
    graded.notes.extend(run.notes)
    graded.rows = _rows(student, name, nb, run, exercises, points, timeout)
    graded.seconds = time.perf_counter() - start
    return graded


# --- the class -----------------------------------------------------------------------------


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """``(student, notebook)`` for every ``folder/<student>/<name>.ipynb``, sorted; hidden
    folders and files (``.ipynb_checkpoints``) are left out."""
    found = []
    for student in sorted(folder.iterdir()):
        if student.name.startswith(".") or not student.is_dir():
            continue
        for path in sorted(student.glob("*.ipynb")):
            if not path.name.startswith(".") and path.is_file():
                found.append((student.name, path))
    return found


@dataclass
class Grades:
    """A class's grades: every notebook graded, in the order of :func:`submissions`."""

    notebooks: list[Notebook]
    seconds: float = 0.0
    timeout: float = 60.0
    jobs: int = 1

    @property
    def rows(self) -> list[Row]:
        """Every row, notebook by notebook."""
        return [row for nb in self.notebooks for row in nb.rows]

    @property
    def students(self) -> list[str]:
        return list(dict.fromkeys(nb.student for nb in self.notebooks))

    def summary(self) -> str:
        """One line: how many notebooks and students, and the time per notebook."""
        n = len(self.notebooks)
        each = sum(nb.seconds for nb in self.notebooks) / n if n else 0.0
        return (f"graded {n} notebook{'s' * (n != 1)} of {len(self.students)} "
                f"student{'s' * (len(self.students) != 1)} in {self.seconds:.1f} s "
                f"({each:.1f} s per notebook, {self.jobs} at a time, cells limited to "
                f"{self.timeout:g} s)")

    def write_csv(self, path: Path) -> None:
        """Write the rows to ``path`` as CSV (UTF-8, the columns of :data:`COLUMNS`)."""
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for r in self.rows:
                writer.writerow([_cell(r.student), _cell(r.notebook), _cell(r.exercise),
                                 r.checker, r.passed, r.diagnosis, f"{r.points:g}",
                                 f"{r.max_points:g}", "" if r.case is None else r.case,
                                 "" if r.cases is None else r.cases, _cell(r.message)])

    def html(self) -> str:
        """The report as one self-contained HTML page (no script, nothing loaded)."""
        return _page(self)


def _cell(text: str) -> str:
    """A CSV field that a spreadsheet will not read as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grade(folder: Path, *, timeout: float = 60.0, jobs: int | None = None,
          handout: Path | None = None, root: Path | None = None,
          points: Mapping[str, float] | None = None,
          progress: Callable[[Notebook], None] | None = None) -> Grades:
    """Run and grade every ``folder/<student>/<name>.ipynb``.

    Parameters
    ----------
    folder : Path
        The submissions: one folder per student, holding that student's notebooks.
    timeout : float
        Seconds each cell may run (the kernel is interrupted after that).
    jobs : int, optional
        Notebooks run at once (default: the number of cores).
    handout : Path, optional
        The student edition as handed out: where each notebook's exercises come from.
    root : Path, optional
        A convlab checkout whose chapters say which exercises each notebook holds, when
        ``handout`` is not given (default: the current folder, if it holds ``_toc.yml``).
    points : mapping of str to float, optional
        Points of an exercise by label (default 1 each).
    progress : callable, optional
        Called with each :class:`Notebook` as it is graded.

    Returns
    -------
    Grades
        Every notebook's rows and notes, in the order of :func:`submissions`.
    """
    if root is None and handout is None and Path("_toc.yml").is_file():
        root = Path.cwd()
    jobs = jobs or os.cpu_count() or 1
    found = submissions(folder)
    expected = _Expected(handout, root)
    env = _kernel_env(jobs, timeout)
    start = time.perf_counter()
    results: dict[int, Notebook] = {}
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="convlab-grade")
    try:
        futures: dict[Future[Notebook], int] = {
            pool.submit(_grade_one, student, path, expected, timeout, points or {}, env): i
            for i, (student, path) in enumerate(found)}
        pending: Iterable[Future[Notebook]] = futures
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(results[futures[future]])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        _KERNELS.kill_all()
        raise
    pool.shutdown()
    return Grades([results[i] for i in range(len(found))], time.perf_counter() - start,
                  timeout, jobs)


# --- the HTML report -----------------------------------------------------------------------


def _describe(code: str) -> str:
    from convlab import exercises

    return GRADER_DIAGNOSES.get(code) or exercises.DIAGNOSES.get(code, "")


_STYLE = """
.convlab-grades { font-family: system-ui, sans-serif; font-size: 14px; color: #222; }
.convlab-grades table { border-collapse: collapse; margin: 0.5em 0 1em 0; }
.convlab-grades th, .convlab-grades td { border: 1px solid #ccc; padding: 0.25em 0.6em;
  text-align: left; vertical-align: top; }
.convlab-grades th { background: #f2f2f2; }
.convlab-grades .pass { color: #2e7d32; font-weight: bold; }
.convlab-grades .fail { color: #c62828; font-weight: bold; }
.convlab-grades pre { white-space: pre-wrap; margin: 0.2em 0; font-size: 12px; }
.convlab-grades code { font-size: 13px; }
.convlab-grades .note { color: #8a5300; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _by_exercise(grades: Grades) -> str:
    keys = list(dict.fromkeys((r.notebook, r.exercise, r.checker) for r in grades.rows
                              if r.exercise))
    if not keys:
        return "<p>No checked exercise was found.</p>"
    out = ["<table><tr><th>notebook</th><th>exercise</th><th>checker</th><th>passed</th>"
           "<th>diagnoses (how many students)</th></tr>"]
    for notebook, label, checker in keys:
        rows = [r for r in grades.rows if (r.notebook, r.exercise, r.checker)
                == (notebook, label, checker)]
        counts = Counter(r.diagnosis for r in rows if not r.passed)
        items = "".join(
            f"<li><code>{_e(code)}</code> &times; {n}: {_e(_describe(code))} "
            f"({_e(', '.join(r.student for r in rows if r.diagnosis == code))})</li>"
            for code, n in counts.most_common())
        out.append(f"<tr><td>{_e(notebook)}</td><td>{_e(label)}</td>"
                   f"<td><code>check_{_e(checker)}</code></td>"
                   f"<td>{sum(r.passed for r in rows)} of {len(rows)}</td>"
                   f"<td><ul style='margin:0;padding-left:1.2em'>{items}</ul></td></tr>")
    out.append("</table>")
    return "".join(out)


def _gist(message: str, width: int = 90) -> str:
    """The line of a message to show folded: the first that is not the signature."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    line = next((x for x in lines if not x.startswith("fn(")), lines[0] if lines else "")
    if len(line) <= width:
        return line
    return line[:width].rsplit(" ", 1)[0] + " …"


def _scores(grades: Grades) -> str:
    out = ["<table><tr><th>student</th><th>points</th><th>notebooks</th><th>notes</th></tr>"]
    for number, student in enumerate(grades.students, 1):
        notebooks = [nb for nb in grades.notebooks if nb.student == student]
        got = sum(nb.score[0] for nb in notebooks)
        most = sum(nb.score[1] for nb in notebooks)
        notes = sum(len(nb.notes) for nb in notebooks)
        out.append(f"<tr><td><a href='#student-{number}'>{_e(student)}</a></td>"
                   f"<td>{got:g} of {most:g}</td><td>{len(notebooks)}</td>"
                   f"<td>{notes or ''}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _by_student(grades: Grades) -> str:
    out = []
    for number, student in enumerate(grades.students, 1):
        notebooks = [nb for nb in grades.notebooks if nb.student == student]
        got = sum(nb.score[0] for nb in notebooks)
        most = sum(nb.score[1] for nb in notebooks)
        out.append(f"<h3 id='student-{number}'>{_e(student)}: {got:g} of {most:g} "
                   "points</h3>")
        for nb in notebooks:
            out.append(f"<p><b>{_e(nb.name)}.ipynb</b> ({nb.seconds:.1f} s"
                       + (f"; exercises from {_e(nb.expected_from)}" if nb.expected_from
                          else "") + ")</p>")
            out.extend(f"<p class='note'>{_e(note)}</p>" for note in nb.notes)
            if not nb.rows:
                continue
            out.append("<table><tr><th>exercise</th><th>result</th><th>diagnosis</th>"
                       "<th>message</th></tr>")
            for r in nb.rows:
                mark = ("<span class='pass'>&#10004; passed</span>" if r.passed else
                        "<span class='fail'>&#10008; failed</span>")
                message = (f"<details><summary>{_e(_gist(r.message))}</summary>"
                           f"<pre>{_e(r.message)}</pre></details>" if r.message else "")
                out.append(f"<tr><td>{_e(r.exercise)}</td><td>{mark} "
                           f"{r.points:g}/{r.max_points:g}</td><td><code>{_e(r.diagnosis)}"
                           f"</code><br>{_e(_describe(r.diagnosis))}</td>"
                           f"<td>{message}</td></tr>")
            out.append("</table>")
    return "".join(out)


def _page(grades: Grades) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>convlab grades</title>"
            f"<style>{_STYLE}</style></head><body class='convlab-grades'>"
            f"<h1>Grades</h1><p>{_e(grades.summary())}</p>"
            f"{fragment(grades)}</body></html>\n")


def fragment(grades: Grades,
             parts: tuple[str, ...] = ("scores", "exercises", "students")) -> str:
    """The report's body as an HTML fragment with its own scoped style (for a page that
    shows it): ``parts`` picks the sections (scores, per exercise, per student)."""
    body = [f"<style>{_STYLE}</style><div class='convlab-grades'>"]
    if "scores" in parts:
        body.append(f"<h2>Scores</h2>{_scores(grades)}")
    if "exercises" in parts:
        body.append(f"<h2>By exercise</h2>{_by_exercise(grades)}")
    if "students" in parts:
        body.append(f"<h2>By student</h2>{_by_student(grades)}")
    body.append("</div>")
    return "".join(body)
