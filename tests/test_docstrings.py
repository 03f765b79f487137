"""Every public callable has a docstring: the functions, classes and methods of
fastgrad, fastgrad.nn, nn.functional, nn.init, optim, lr_scheduler, data,
utils.data and autograd, and the Tensor's methods and properties.

A method's docstring may come from the method it overrides (``inspect.getdoc``): an
``nn.Linear.forward`` is documented by ``Module.forward``.  A class needs its own.
"""
import doctest
import inspect

import fastgrad as fg
import fastgrad.autograd
import fastgrad.data
import fastgrad.nn
import fastgrad.nn.functional
import fastgrad.nn.init
import fastgrad.optim
import fastgrad.optim.lr_scheduler
import fastgrad.utils.data

MODULES = [fg, fastgrad.nn, fastgrad.nn.functional, fastgrad.nn.init, fastgrad.optim,
           fastgrad.optim.lr_scheduler, fastgrad.data, fastgrad.utils.data, fastgrad.autograd]


def _doc(obj):
    return (obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)) or ""


def _public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    return names


def undocumented():
    """Qualified names of the public callables without a docstring."""
    out, seen = set(), set()
    classes = {}
    for mod in MODULES:
        for name in _public_names(mod):
            obj = getattr(mod, name, None)
            if obj is None or inspect.ismodule(obj) or not callable(obj):
                continue
            if not getattr(obj, "__module__", "").startswith("fastgrad"):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if not _doc(obj).strip():
                out.add(f"{mod.__name__}.{name}")
            if inspect.isclass(obj):
                classes[f"{mod.__name__}.{name}"] = obj
    classes["fastgrad.Tensor"] = fg.Tensor
    for qual, cls in classes.items():
        for name in dir(cls):
            if name.startswith("_"):
                continue
            static = inspect.getattr_static(cls, name)
            if isinstance(static, property):
                doc = static.__doc__ or ""
            else:
                attr = getattr(cls, name, None)
                if not callable(attr) or inspect.isclass(attr):
                    continue
                owner = next((k for k in cls.__mro__ if name in vars(k)), None)
                if owner is None or not owner.__module__.startswith("fastgrad"):
                    continue
                doc = inspect.getdoc(attr) or ""
            if not doc.strip():
                out.add(f"{qual}.{name}")
    return out


def test_every_public_callable_has_a_docstring():
    missing = sorted(undocumented())
    assert not missing, "public callables without a docstring: " + ", ".join(missing)


def test_the_walk_finds_a_missing_docstring():
    def f(x):
        return x
    fastgrad.nn.functional.__dict__["zz_undocumented_probe"] = f
    f.__module__ = "fastgrad.nn.functional"
    try:
        assert "fastgrad.nn.functional.zz_undocumented_probe" in undocumented()
    finally:
        del fastgrad.nn.functional.__dict__["zz_undocumented_probe"]


def test_generated_op_examples_run():
    """The worked examples in the declared ops' docstrings are doctests."""
    from fastgrad import _opdoc
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    n = 0
    for name in list(_opdoc.UNARY) + list(_opdoc.BINARY):
        for t in finder.find(getattr(fg, name), name, globs={}):
            n += len(t.examples)
            runner.run(t)
    assert n >= 2 * (len(_opdoc.UNARY) + len(_opdoc.BINARY))
    assert runner.failures == 0
