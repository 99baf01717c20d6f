"""Shared fixtures. TensorFlow is the oracle; its CPU kernels are pinned to stock Eigen."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

# Stock TF kernels (not oneDNN's) so that what TF refuses on CPU is the same on every machine.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_COUNTS = Path(__file__).resolve().parent.parent / ".pytest_cache" / "convlab-oracle"


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name: every run draws the same numbers."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(scope="session")
def ctf():
    """convlab.tf, or a skip (a failure when CONVLAB_REQUIRE_TF=1, as in `make test`)."""
    try:
        import convlab.tf as module
    except ImportError as err:
        if os.environ.get("CONVLAB_REQUIRE_TF") == "1":
            pytest.fail(f"CONVLAB_REQUIRE_TF=1 but TensorFlow cannot be imported: {err}")
        pytest.skip(f"TensorFlow is not installed: {err}")
    return module


def _framework(module: str, pip: str):
    """convlab.<module>, or a skip (a failure when CONVLAB_REQUIRE_FRAMEWORKS=1, as in
    `make test`)."""
    import importlib

    try:
        return importlib.import_module(f"convlab.{module}")
    except ImportError as err:
        if os.environ.get("CONVLAB_REQUIRE_FRAMEWORKS") == "1":
            pytest.fail(f"CONVLAB_REQUIRE_FRAMEWORKS=1 but convlab.{module} cannot be "
                        f"imported: {err}")
        pytest.skip(f"{pip} is not installed: {err}")


@pytest.fixture(scope="session")
def ctorch():
    """convlab.torch, or a skip (a failure when CONVLAB_REQUIRE_FRAMEWORKS=1)."""
    return _framework("torch", "PyTorch")


@pytest.fixture(scope="session")
def cjax():
    """convlab.jax, or a skip (a failure when CONVLAB_REQUIRE_FRAMEWORKS=1)."""
    return _framework("jax", "JAX")


def _worker(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def pytest_configure(config: pytest.Config) -> None:
    if _worker(config) == "main":
        _COUNTS.mkdir(parents=True, exist_ok=True)
        for f in _COUNTS.glob("*"):
            f.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    import _support

    _COUNTS.mkdir(parents=True, exist_ok=True)
    (_COUNTS / _worker(session.config)).write_text(str(_support.ORACLE_CONFIGS))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    total = sum(int(f.read_text() or 0) for f in _COUNTS.glob("*")) if _COUNTS.exists() else 0
    terminalreporter.write_line(
        f"convlab: {total} configurations compared with TensorFlow as the oracle"
    )
