"""Run untrusted code (a student's function) case by case in a forked child process.

The exercise checkers call a student's function on a list of cases. A function that
never returns, ends the process (``sys.exit()``, ``os._exit()``), crashes or asks for
more memory than there is must not take the notebook's kernel with it, and a signal that
the student's code can catch is no guard. So :func:`run` forks a child (the student's
function lives in the notebook's ``__main__``, which a spawned process could not
import), and the child runs the cases one after the other and sends back what each gave,
as plain data that the caller's ``work`` has already checked. The parent waits for each
case at most ``timeout`` seconds, then kills the child. The child's address space is
capped 2 GiB (at most half the free memory) above what it inherits, so a huge
allocation fails there. What the student's code prints in the child is sent back and
printed in the parent.

Where there is no fork (Windows; macOS, whose system libraries are not fork-safe) or the
limit is off, the cases run in this process, without a time limit, and the result says so.
A student's function that uses TensorFlow or JAX, whose thread pools do not survive a
fork, may hang in the child; the time limit then reports it (``exercises.TIMEOUT = 0``
runs it in this process instead).

:class:`Forbidder` replaces named library functions during the student's call by
functions that record the name and raise :class:`ForbiddenCall`, so that an exercise
that asks for ``conv2d_backprop_input`` is not passed by calling convlab's.
"""

from __future__ import annotations

import builtins
import faulthandler
import io
import multiprocessing
import os
import signal
import sys
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# convlab's own code may call what a student may not (convlab.conv2d_transpose is
# convlab.conv2d_backprop_input with its arguments reordered)
_HOME = str(Path(__file__).resolve().parent)

#: The first part of a forbidden name that stands for a module of another name.
ALIASES = {"tf": "tensorflow"}

#: The most characters of printed output kept from the child, for each stream.
OUTPUT_LIMIT = 20_000

_BUDGET = 2 << 30  # the address space a child may take beyond what it inherits


def forking() -> bool:
    """Whether :func:`run` can run the cases in a forked child on this system."""
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


# --- forbidden functions -----------------------------------------------------------------------


class ForbiddenCall(BaseException):
    """A forbidden function was called.

    A ``BaseException``, so that ``except Exception`` in the student's code does not hide
    it; :attr:`Forbidder.used` records the call even where a bare ``except:`` does.
    """


def _owner_and_object(name: str) -> tuple[Any, str, Any] | None:
    """``(owner, attribute, object)`` of a dotted ``name`` if it is loaded, else None.

    Only modules already imported are looked in, and a module's attributes are read from
    its ``__dict__``: a module ``__getattr__`` (``convlab.tf``) would import TensorFlow.
    """
    parts = name.split(".")
    if len(parts) < 2:
        return None
    owner: Any = sys.modules.get(ALIASES.get(parts[0], parts[0]))
    for i, part in enumerate(parts[1:], start=1):
        if owner is None:
            return None
        if type(owner) is types.ModuleType:
            found = vars(owner).get(part)
            if found is None:
                found = sys.modules.get(f"{owner.__name__}.{part}")
        else:  # a class, or a module wrapper such as TensorFlow's compat modules
            try:
                found = getattr(owner, part, None)
            except Exception:
                found = None
        if i == len(parts) - 1:
            return (owner, part, found) if found is not None else None
        owner = found
    return None


def _functions(fn: Any) -> list[Any]:
    """``fn`` and what it wraps: partials, bound methods, decorated functions."""
    out: list[Any] = []
    todo = [fn]
    while todo and len(out) < 20:
        f = todo.pop()
        if f is None or any(f is g for g in out):
            continue
        out.append(f)
        try:
            if hasattr(f, "func"):  # functools.partial
                todo.append(f.func)
            if hasattr(f, "__func__"):  # a bound method
                todo.append(f.__func__)
            if hasattr(f, "__wrapped__"):
                todo.append(f.__wrapped__)
            plain = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)
            if not isinstance(f, plain):  # an object with a __call__ method
                call = vars(type(f)).get("__call__")
                if isinstance(call, types.FunctionType):
                    todo.append(call)
        except Exception:  # a student's object whose attributes raise
            continue
    return out


def _setter(put: Callable[..., Any], *args: Any) -> Callable[[], None]:
    """``put(*args)`` later: an undo step."""
    def undo() -> None:
        put(*args)
    return undo


class Forbidder:
    """Replace the functions ``names`` name wherever the student's code can reach them.

    ``names`` are dotted, e.g. ``"convlab.conv2d_backprop_input"`` or
    ``"tf.nn.conv2d_transpose"`` (``tf`` is ``tensorflow``). Each name's object is replaced
    at that name, under every other name a convlab module gives it, in the globals,
    closures and defaults of ``fn`` (and of the functions its globals hold), and in
    ``__main__``. A name whose module is not imported yet is replaced when it is.
    A replacement called from convlab's own code calls the original.
    """

    def __init__(self, names: Sequence[str], fn: Any = None) -> None:
        self.names = tuple(names)
        self.used: str | None = None
        self._fn = fn
        self._guards: dict[int, tuple[Any, Any, str]] = {}  # id(original) -> (orig, guard, name)
        self._pending = list(self.names)
        self._undo: list[Callable[[], None]] = []
        self._import: Any = None

    # the student's function is itself a forbidden one (check_x(convlab.conv2d_transpose))
    def named(self, fn: Any) -> str | None:
        """The forbidden name of ``fn`` (or of what it wraps), or None."""
        self._resolve()
        for f in _functions(fn):
            for original, guard, name in self._guards.values():
                if f is original or f is guard:
                    return name
        return None

    def apply(self) -> None:
        """Replace the forbidden functions (in the child; :meth:`restore` undoes it)."""
        self._resolve()
        if self._pending and self._import is None:
            self._hook_imports()

    def restore(self) -> None:
        """Put every replaced function back, last replaced first."""
        while self._undo:
            self._undo.pop()()

    def _guard(self, original: Any, name: str) -> Any:
        forbidder = self

        def forbidden(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(_HOME):
                return original(*args, **kwargs)
            if forbidder.used is None:
                forbidder.used = name
            raise ForbiddenCall(name)

        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            try:
                setattr(forbidden, attr, getattr(original, attr))
            except (AttributeError, TypeError):
                pass
        return forbidden

    def _resolve(self) -> None:
        found = []
        for name in list(self._pending):
            located = _owner_and_object(name)
            if located is None:
                continue
            self._pending.remove(name)
            owner, attr, obj = located
            if not callable(obj) or isinstance(obj, type):
                continue  # a class stands in isinstance checks: never replaced
            known = self._guards.get(id(obj))
            if known is None:
                if any(obj is guard for _, guard, _ in self._guards.values()):
                    continue
                known = (obj, self._guard(obj, name), name)
                self._guards[id(obj)] = known
                found.append(obj)
            self._set_attr(owner, attr, known[1])
        if found:
            self._replace_everywhere()

    def _set_attr(self, owner: Any, attr: str, value: Any) -> None:
        try:
            old = getattr(owner, attr) if type(owner) is not types.ModuleType else (
                vars(owner)[attr])
            setattr(owner, attr, value)
        except Exception:
            return

        def undo() -> None:
            setattr(owner, attr, old)

        self._undo.append(undo)

    def _swap(self, value: Any) -> Any:
        """The replacement of ``value`` if it is a forbidden function, else None."""
        known = self._guards.get(id(value))
        return known[1] if known is not None and value is known[0] else None

    def _replace_in(self, space: dict[str, Any]) -> None:
        for key, value in list(space.items()):
            guard = self._swap(value)
            if guard is not None:
                space[key] = guard
                self._undo.append(_setter(space.__setitem__, key, value))

    def _spaces(self) -> Iterable[dict[str, Any]]:
        seen: set[int] = set()
        modules = [m for n, m in list(sys.modules.items())
                   if n == "convlab" or n.startswith("convlab.") or n == "__main__"]
        spaces = [vars(m) for m in modules if isinstance(m, types.ModuleType)]
        for f in _functions(self._fn):
            try:
                g = getattr(f, "__globals__", None)
            except Exception:  # a student's object whose attributes raise
                continue
            if isinstance(g, dict):
                spaces.append(g)
                # helpers that the student's globals hold, defined in other modules
                spaces.extend(v.__globals__ for v in list(g.values())
                              if isinstance(v, types.FunctionType))
        for space in spaces:
            if id(space) not in seen:
                seen.add(id(space))
                yield space

    def _replace_everywhere(self) -> None:
        for space in self._spaces():
            self._replace_in(space)
        for f in _functions(self._fn):
            if not isinstance(f, types.FunctionType):
                continue
            for cell in f.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                guard = self._swap(value)
                if guard is not None:
                    cell.cell_contents = guard
                    self._undo.append(_setter(setattr, cell, "cell_contents", value))
            defaults = f.__defaults__ or ()
            swapped = tuple(self._swap(v) or v for v in defaults)
            if any(a is not b for a, b in zip(swapped, defaults, strict=True)):
                f.__defaults__ = swapped
                self._undo.append(_setter(setattr, f, "__defaults__", defaults))
            if f.__kwdefaults__:
                self._replace_in(f.__kwdefaults__)

    def _hook_imports(self) -> None:
        """Replace names of modules that the student's code imports later, once imported."""
        original = builtins.__import__
        forbidder = self

        def hooked(name: str, globals: Any = None, locals: Any = None,
                   fromlist: Any = (), level: int = 0) -> Any:
            module = original(name, globals, locals, fromlist, level)
            if forbidder._pending:
                forbidder._resolve()
            return module

        builtins.__import__ = hooked
        self._import = original

        def unhook() -> None:
            builtins.__import__ = original
            self._import = None

        self._undo.insert(0, unhook)


# --- running the cases -------------------------------------------------------------------------


class _Capture(io.TextIOBase):
    """A text stream that keeps the first :data:`OUTPUT_LIMIT` characters written to it."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[str] = []
        self._kept = 0
        self._dropped = 0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: Any) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = max(OUTPUT_LIMIT - self._kept, 0)
        self._parts.append(text[:room])
        self._kept += min(len(text), room)
        if len(text) > room and not self._dropped:
            self._dropped = 1
            self._parts.append(f"\n[... output beyond {OUTPUT_LIMIT} characters not shown]\n")
        return len(text)

    def take(self) -> str:
        """What was written since the last call."""
        text = "".join(self._parts)
        self._parts = []
        return text


def _vm_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _limit_memory() -> None:
    """Cap the child's address space at what it inherited plus a budget."""
    try:
        import resource
    except ImportError:
        return
    from convlab import _memory

    used = _vm_bytes()
    if used is None:
        return
    free = _memory.available()
    budget = _BUDGET if free is None else min(_BUDGET, max(free // 2, 256 << 20))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = used + budget
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft <= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ValueError, OSError):
        pass


@dataclass
class Run:
    """What :func:`run` got.

    Attributes
    ----------
    results : list
        ``work(k)`` of the cases that finished, in order.
    stop : str or None
        Why the cases stopped before ``count`` or the ``last`` result: ``"timeout"``
        (the case ``len(results)`` ran past the limit), ``"died"`` (the child ended
        during that case: see ``exitcode``) or ``"internal"`` (``text`` says why).
    exitcode : int or None
        The child's exit status where it died: negative for a signal.
    isolated : bool
        The cases ran in a child process with the time limit.
    note : str
        Why they did not, where they did not.
    """

    results: list[Any] = field(default_factory=list)
    stop: str | None = None
    exitcode: int | None = None
    isolated: bool = True
    note: str = ""
    text: str = ""
    seconds: float = 0.0


def signal_name(code: int) -> str:
    """``SIGKILL`` for the exit status ``-9``; ``signal 99`` where it has no name."""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run(work: Callable[[int], Any], count: int, timeout: float | None, *,
        prepare: Callable[[], Any] | None = None, cleanup: Callable[[], Any] | None = None,
        last: Callable[[Any], bool] | None = None) -> Run:
    """Call ``work(k)`` for ``k`` in ``range(count)`` in a child, at most ``timeout`` s each.

    Parameters
    ----------
    work : callable
        Runs case ``k`` and returns plain, picklable data; it must not raise. A
        ``KeyboardInterrupt`` in the child is raised here.
    count : int
        The number of cases.
    timeout : float or None
        Seconds each case may take; None runs the cases in this process, with no limit.
    prepare, cleanup : callable, optional
        Called before the first case (in the child) and, in this process only, after the
        last.
    last : callable, optional
        ``last(result)`` true ends the run after that result.

    Returns
    -------
    Run
    """
    started = time.perf_counter()
    if timeout is None:
        out = _in_process(work, count, prepare, cleanup, last, "")
    elif not forking():
        out = _in_process(work, count, prepare, cleanup, last,
                          "this system cannot fork a process, so your function ran in this "
                          "one, without a time limit")
    else:
        out = _forked(work, count, timeout, prepare, cleanup, last)
    out.seconds = time.perf_counter() - started
    return out


def _in_process(work: Callable[[int], Any], count: int, prepare: Callable[[], Any] | None,
                cleanup: Callable[[], Any] | None, last: Callable[[Any], bool] | None,
                note: str) -> Run:
    out = Run(isolated=False, note=note)
    try:
        if prepare is not None:
            try:
                prepare()
            except Exception:
                out.stop, out.text = "internal", traceback.format_exc(limit=8)
                return out
        for k in range(count):
            out.results.append(work(k))
            if last is not None and last(out.results[-1]):
                break
    finally:
        if cleanup is not None:
            cleanup()
    return out


def _child(conn: Any, work: Callable[[int], Any], count: int,
           prepare: Callable[[], Any] | None, last: Callable[[Any], bool] | None) -> None:
    out, err = _Capture(), _Capture()
    try:
        # a crash of the student's code is reported as `crash`; the parent's fault handler
        # (pytest and ipykernel turn it on) would also dump this child's stack to stderr
        faulthandler.disable()
        sys.stdout, sys.stderr = out, err
        _limit_memory()
        if prepare is not None:
            prepare()
        for k in range(count):
            result = work(k)
            conn.send(("result", result, out.take(), err.take()))
            if last is not None and last(result):
                break
    except KeyboardInterrupt:  # the student's code raised it, or the user interrupted
        try:
            conn.send(("interrupted", None, out.take(), err.take()))
        except BaseException:
            pass
    except BaseException:
        try:
            conn.send(("internal", traceback.format_exc(limit=8), out.take(), err.take()))
        except BaseException:
            pass
    finally:
        os._exit(0)  # no atexit handlers, no flushing of the parent's streams


def _echo(text: str, stream: Any) -> None:
    if text:
        try:
            stream.write(text)
            stream.flush()
        except Exception:
            pass


def _forked(work: Callable[[int], Any], count: int, timeout: float,
            prepare: Callable[[], Any] | None, cleanup: Callable[[], Any] | None,
            last: Callable[[Any], bool] | None) -> Run:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, work, count, prepare, last),
                        name="convlab-check")
    try:
        with warnings.catch_warnings():
            # Python 3.12 warns that forking a threaded process (a notebook's kernel) may
            # deadlock, and so does JAX when it is loaded: the child runs only numpy and
            # the student's code, and a child that does hang is killed at the time limit
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            child.start()
    except Exception as err:  # e.g. a daemonic process, or no memory to fork
        receive.close()
        send.close()
        return _in_process(work, count, prepare, cleanup, last,
                           f"no process could be started ({type(err).__name__}: {err}), so "
                           "your function ran in this one, without a time limit")
    send.close()
    out = Run()
    try:
        for _ in range(count):
            if not receive.poll(timeout):
                out.stop = "timeout"
                break
            try:
                kind, result, printed, warned = receive.recv()
            except Exception:  # EOF: the child ended
                out.stop = "died"
                child.join(5)
                out.exitcode = child.exitcode
                break
            _echo(printed, sys.stdout)
            _echo(warned, sys.stderr)
            if kind == "interrupted":
                raise KeyboardInterrupt
            if kind != "result":
                out.stop, out.text = "internal", str(result)
                break
            out.results.append(result)
            if last is not None and last(result):
                break
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
        child.close()
    return out
