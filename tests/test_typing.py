"""The public API's static types: mypy --strict over tests/typing/ (when mypy is
installed), and the generated statement of the names fastgrad binds at import time
(fastgrad._api_types, fastgrad._api_methods, fastgrad.nn._functional_types) kept current
and true."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

import fastgrad as fg
from fastgrad import _api_methods, _api_types
from fastgrad.nn import _functional_types
import fastgrad.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_api_types", ROOT / "tools" / "gen_api_types.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "fastgrad" / "py.typed").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    assert '"py.typed"' in text.split("[tool.setuptools.package-data]")[1].split("\n[")[0]


def test_generated_api_types_are_current():
    gen = _generator()
    top, methods, functional = gen.generate()
    assert (ROOT / "src/fastgrad/_api_types.py").read_text() == top, \
        "src/fastgrad/_api_types.py is out of date: run python tools/gen_api_types.py"
    assert (ROOT / "src/fastgrad/_api_methods.py").read_text() == methods, \
        "src/fastgrad/_api_methods.py is out of date: run python tools/gen_api_types.py"
    assert (ROOT / "src/fastgrad/nn/_functional_types.py").read_text() == functional, \
        "src/fastgrad/nn/_functional_types.py is out of date: run python tools/gen_api_types.py"


def test_api_types_state_the_runtime_names():
    # every name stated for the type checker is the same object at run time, and back
    for name in _api_types.__all__:
        assert getattr(fg, name) is getattr(_api_types, name), name
    for name in _functional_types.__all__:
        assert getattr(F, name) is getattr(_functional_types, name), name
    from fastgrad.ops._record import METHODS
    stated = {n for n in vars(_api_methods.TensorMethods) if not n.startswith("__") or n in METHODS}
    for name, fn in METHODS.items():
        assert name in stated, name
        if not name.startswith("__r") or name in ("__rshift__",):
            assert getattr(_api_methods.TensorMethods, name) is fn, name
        assert getattr(fg.Tensor, name) is fn, name


def test_tensor_base_is_object_at_run_time():
    # TensorMethods is a base for type checkers only
    assert fg.Tensor.__mro__ == (fg.Tensor, object)


def test_generated_op_docstrings_and_signatures():
    import inspect
    assert str(inspect.signature(fg.exp)) == "(input: 'Tensor') -> 'Tensor'"
    assert "e**x" in fg.exp.__doc__ and "Example" in fg.exp.__doc__
    assert str(inspect.signature(fg.hypot)).startswith("(input: 'TensorOrNumber', other: 'TensorOrNumber')")


def test_mypy_strict_on_the_typing_examples(tmp_path):
    pytest.importorskip("mypy")
    pytest.importorskip("typing_extensions")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(tmp_path / "cache"), str(ROOT / "tests" / "typing")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_package_errors_are_in_the_baseline(tmp_path):
    """mypy over src/fastgrad (default options) finds no error outside
    tests/typing/mypy_baseline.txt (tools/mypy_baseline.py)."""
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "mypy_baseline.py"), "--cache-dir",
                        str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
