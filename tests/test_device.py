"""Device plumbing as PyTorch scripts use it: fastgrad.device, device=/pin_memory= on the
factories, .to(device[, dtype]), .cpu()/.cuda(), Module.to, the cuda/backends queries and
inference_mode.  fastgrad runs on the CPU; other devices raise a RuntimeError naming them."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn

CPU_SPECS = ["cpu", "cpu:0", ("cpu", 0), ("cpu", None)]
OTHER_SPECS = ["cuda", "cuda:1", ("cuda", 0), "mps", "meta"]


def _make(lib, spec):
    return lib.device(*spec) if isinstance(spec, tuple) else lib.device(spec)


@pytest.mark.parametrize("spec", CPU_SPECS + OTHER_SPECS, ids=str)
def test_device_object_matches_torch(spec):
    torch = pytest.importorskip("torch")
    d, td = _make(fg, spec), _make(torch, spec)
    assert (d.type, d.index) == (td.type, td.index)
    assert str(d) == str(td) and repr(d) == repr(td)
    assert d == fg.device(str(td)) and hash(d) == hash(fg.device(str(td)))
    assert (d == fg.device("cpu")) == (td == torch.device("cpu"))


@pytest.mark.parametrize("spec", ["gpu", "cpu:x", "cuda:-1", ("cpu", -1), "", "cpu:0:1", 0, 1], ids=str)
def test_bad_device_strings_raise_as_in_torch(spec):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as te:
        _make(torch, spec)
    with pytest.raises(type(te.value)):
        _make(fg, spec)


def test_tensor_device_is_the_cpu():
    x = fg.ones(2)
    assert x.device == fg.device("cpu") and x.device.type == "cpu" and str(x.device) == "cpu"
    assert x.is_cuda is False and x.get_device() == -1
    assert x.cpu() is x


FACTORIES = {
    "tensor": lambda f, kw: f.tensor([1.0, 2.0], **kw),
    "as_tensor": lambda f, kw: f.as_tensor([1.0, 2.0], **kw),
    "zeros": lambda f, kw: f.zeros(2, 3, **kw),
    "ones": lambda f, kw: f.ones((2,), **kw),
    "empty": lambda f, kw: f.empty(2, **kw),
    "full": lambda f, kw: f.full((2,), 1.5, **kw),
    "arange": lambda f, kw: f.arange(5, **kw),
    "linspace": lambda f, kw: f.linspace(0, 1, 5, **kw),
    "eye": lambda f, kw: f.eye(3, **kw),
    "rand": lambda f, kw: f.rand(2, **kw),
    "randn": lambda f, kw: f.randn(2, **kw),
    "randint": lambda f, kw: f.randint(0, 5, (3,), **kw),
    "randperm": lambda f, kw: f.randperm(4, **kw),
    "zeros_like": lambda f, kw: f.zeros_like(f.ones(2), **kw),
    "ones_like": lambda f, kw: f.ones_like(f.ones(2), **kw),
    "empty_like": lambda f, kw: f.empty_like(f.ones(2), **kw),
    "full_like": lambda f, kw: f.full_like(f.ones(2), 3.0, **kw),
    "rand_like": lambda f, kw: f.rand_like(f.ones(2), **kw),
    "randn_like": lambda f, kw: f.randn_like(f.ones(2), **kw),
}
NO_PIN = {"as_tensor"}      # the factories without pin_memory in torch


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_take_a_cpu_device_and_pin_memory(name):
    make = FACTORIES[name]
    ref = make(fg, {})
    for dev in ("cpu", "cpu:0", fg.device("cpu"), fg.device("cpu", 0)):
        out = make(fg, {"device": dev})
        assert out.device == fg.device("cpu") and out.shape == ref.shape and out.dtype == ref.dtype
    if name not in NO_PIN:
        out = make(fg, {"device": "cpu", "pin_memory": True})
        assert out.shape == ref.shape


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "mps"])
def test_factories_refuse_other_devices(name, dev):
    with pytest.raises(RuntimeError, match=f"{name}: fastgrad runs on the CPU only; got device '{dev}'"):
        FACTORIES[name](fg, {"device": fg.device(dev)})
    with pytest.raises(RuntimeError, match=f"got device '{dev}'"):
        FACTORIES[name](fg, {"device": dev})


def test_factory_signatures_match_torch_keywords():
    torch = pytest.importorskip("torch")
    for name in FACTORIES:
        make = FACTORIES[name]
        t = make(torch, {"device": "cpu"})
        f = make(fg, {"device": "cpu"})
        assert tuple(t.shape) == tuple(f.shape), name
        if name not in NO_PIN:
            make(torch, {"pin_memory": False})
            make(fg, {"pin_memory": False})


def test_to_forms_match_torch():
    torch = pytest.importorskip("torch")
    x, tx = fg.tensor([1.5, -2.0]), torch.tensor([1.5, -2.0])
    other, tother = fg.zeros(1, dtype=fg.float64), torch.zeros(1, dtype=torch.float64)
    forms = [
        (lambda a, L: a.to("cpu"), True),
        (lambda a, L: a.to(L.device("cpu")), True),
        (lambda a, L: a.to(device="cpu"), True),
        (lambda a, L: a.to("cpu", L.float64), False),
        (lambda a, L: a.to(L.device("cpu"), L.float64), False),
        (lambda a, L: a.to(device="cpu", dtype=L.float64), False),
        (lambda a, L: a.to(L.float64), False),
        (lambda a, L: a.to(dtype=L.int64), False),
        (lambda a, L: a.to(other if L is fg else tother), False),
        (lambda a, L: a.to("cpu", non_blocking=True), True),
        (lambda a, L: a.to("cpu", copy=True), False),
    ]
    for i, (form, same) in enumerate(forms):
        out, tout = form(x, fg), form(tx, torch)
        assert (out is x) == (tout is tx) == same, i
        assert str(out.dtype).replace("fastgrad.", "") == str(tout.dtype).replace("torch.", ""), i
        np.testing.assert_array_equal(out.numpy(), tout.numpy())


def test_to_an_accelerator_index_raises_runtime_error():
    with pytest.raises(RuntimeError, match="to: fastgrad runs on the CPU only; got device 0"):
        fg.ones(2).to(0)
    with pytest.raises(RuntimeError, match="zeros: fastgrad runs on the CPU only; got device 1"):
        fg.zeros(2, device=1)


@pytest.mark.parametrize("dev", ["cuda", "cuda:1", "mps"])
def test_to_another_device_raises_runtime_error_naming_it(dev):
    name = str(fg.device(dev))
    x = fg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"to: fastgrad runs on the CPU only; got device '{name}'"):
        x.to(dev)
    with pytest.raises(RuntimeError, match=f"got device '{name}'"):
        x.to(fg.device(dev), fg.float64)
    with pytest.raises(RuntimeError, match=f"got device '{name}'"):
        x.to(device=dev)


def test_cuda_method_raises():
    with pytest.raises(RuntimeError, match="got device 'cuda'"):
        fg.ones(2).cuda()
    with pytest.raises(RuntimeError, match="got device 'cuda:1'"):
        fg.ones(2).cuda(1)


def test_to_keeps_gradients_flowing():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cpu", fg.float64)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_module_to_and_cpu():
    torch = pytest.importorskip("torch")
    m, tm = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    params = list(m.parameters())
    assert m.to("cpu") is m and m.to(fg.device("cpu")) is m and m.cpu() is m
    assert m.to(device="cpu") is m
    assert m.to("cpu", fg.float64) is m and m.weight.dtype == np.float64
    assert m.to(fg.zeros(1)) is m and m.weight.dtype == np.float32
    assert m.to(dtype=fg.float64) is m and m.bias.dtype == np.float64
    assert list(m.parameters()) == params            # the same Parameter objects
    for call in (lambda mod, L: mod.to(L.int64), lambda mod, L: mod.to("cpu", L.int64)):
        with pytest.raises(Exception) as te:
            call(tm, torch)
        with pytest.raises(type(te.value)):
            call(m, fg)
    with pytest.raises(RuntimeError, match="Module.to: fastgrad runs on the CPU only; got device 'cuda'"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="got device 'cuda:0'"):
        m.to(fg.device("cuda", 0))
    with pytest.raises(RuntimeError, match="got device 'cuda'"):
        m.cuda()


def test_device_selection_idiom_of_scripts():
    device = fg.device("cuda" if fg.cuda.is_available() else "cpu")
    m = nn.Linear(2, 1).to(device)
    x = fg.randn(4, 2, device=device)
    assert m(x).device == device


def test_cuda_and_backend_queries():
    assert fg.cuda.is_available() is False and fg.cuda.device_count() == 0
    fg.cuda.manual_seed(0)
    fg.cuda.manual_seed_all(0)
    assert fg.backends.mps.is_available() is False and fg.backends.mps.is_built() is False
    assert fg.backends.cudnn.is_available() is False
    fg.backends.cudnn.benchmark = True
    fg.backends.cuda.matmul.allow_tf32 = True
    with pytest.raises(RuntimeError, match="fastgrad.cuda.synchronize: fastgrad runs on the CPU only"):
        fg.cuda.synchronize()


def test_inference_mode_as_context_manager_and_decorator():
    torch = pytest.importorskip("torch")
    for L in (fg, torch):
        w = L.ones(2, requires_grad=True)
        assert not L.is_inference_mode_enabled()
        with L.inference_mode():
            y = w * 2
            assert L.is_inference_mode_enabled() and not L.is_grad_enabled()
            with L.inference_mode(False):
                assert not L.is_inference_mode_enabled()
        assert not y.requires_grad and y.grad_fn is None
        assert L.is_grad_enabled() and not L.is_inference_mode_enabled()

        @L.inference_mode()
        def f(x):
            return x * 2, L.is_inference_mode_enabled()

        @L.inference_mode
        def g(x):
            return x * 2

        out, flag = f(w)
        assert flag and not out.requires_grad and not g(w).requires_grad
        assert (w * 2).requires_grad
        assert f.__name__ == "f"
    with fg.no_grad():
        with fg.inference_mode(False):
            assert not fg.is_grad_enabled()      # mode=False leaves grad mode as it is


def test_load_accepts_a_cpu_device_as_map_location(tmp_path):
    fg.save({"w": fg.ones(2)}, tmp_path / "w.fg")
    for loc in ("cpu", "cpu:0", fg.device("cpu")):
        assert fg.load(tmp_path / "w.fg", map_location=loc)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="map_location"):
        fg.load(tmp_path / "w.fg", map_location=fg.device("cuda"))


def test_accelerator_and_cuda_amp_spellings_take_the_cpu_path():
    """torch.accelerator and the older torch.cuda.amp names, as scripts use them to decide
    on a device and on mixed precision: no accelerator, and a disabled CUDA scaler."""
    import warnings
    from fastgrad.cuda.amp import GradScaler, autocast
    assert fg.accelerator.is_available() is False
    assert fg.accelerator.current_accelerator() is None and fg.accelerator.device_count() == 0
    off = GradScaler(enabled=False)
    assert isinstance(off, fg.amp.GradScaler) and not off.is_enabled()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        on = GradScaler(enabled=True)
    assert not on.is_enabled() and any("not available" in str(x.message) for x in w)
    loss = fg.tensor(2.0, requires_grad=True)
    assert on.scale(loss) is loss or float(on.scale(loss).item()) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autocast(enabled=False):
            assert (fg.ones(2) * 2).dtype == fg.float32
