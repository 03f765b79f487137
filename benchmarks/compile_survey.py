"""Which registry ops a compiled training step can follow: for each op of the registry
(fastgrad.testing.REGISTRY), its first differentiable sample becomes a step -- the op
on captured parameters, the sum of its float outputs as the loss, backward, an SGD
update -- compiled strictly and called three times.  Prints the ops whose step compile
refuses, with the reason, and a count.

    PYTHONPATH=src python benchmarks/compile_survey.py [--all]

--all also lists the ops that compile follows.  (A survey, not a test: some samples are
not steps a training loop would take.)"""
import sys
import warnings

import numpy as np

import fastgrad as fg
from fastgrad import optim
from fastgrad.compile import CompileError
from fastgrad.testing import REGISTRY


def _tensor(a, grad):
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            t = fg.tensor(np.array(a, dtype=np.float32))
            return t.requires_grad_(True) if grad else t
        return fg.tensor(a.astype(np.int64) if a.dtype.kind in "iu" else a)
    return a


def _floats(r):
    if isinstance(r, fg.Tensor):
        return [r] if r.dtype in (fg.float32, fg.float64) and r.requires_grad else []
    if isinstance(r, (tuple, list)):
        return [t for v in r for t in _floats(v)]
    return []


def survey(info):
    """None when compile follows the step, else the refusal (or error) message."""
    rng = np.random.default_rng(0)
    samples = [s for s in info.samples(rng) if s.grad] if info.grad else []
    if not samples:
        samples = list(info.samples(rng))
    if not samples:
        return "no sample"
    s = samples[0]
    args = [_tensor(a, info.grad) for a in s.args]
    params = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
    opt = optim.SGD(params, lr=0.01) if params else None

    def step():
        if opt is not None:
            opt.zero_grad()
        r = info.op(*args, **s.kwargs)
        outs = _floats(r)
        if outs and opt is not None:
            loss = sum((o.sum() for o in outs[1:]), outs[0].sum())
            loss.backward()
            opt.step()
            return loss
        return r

    try:
        step()
    except Exception as e:  # noqa: BLE001 - a sample that fails eagerly is not compile's concern
        return None if isinstance(e, CompileError) else f"(eager error) {type(e).__name__}"
    c = fg.compile(step, fallback="error")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(3):
                c()
    except CompileError as e:
        msg = str(e)
        return msg.split(": ", 1)[-1][:140]
    except Exception as e:  # noqa: BLE001 - reported, whatever it is
        return f"{type(e).__name__}: {str(e)[:120]}"
    return None


def main():
    show_all = "--all" in sys.argv
    refused = 0
    for name, info in sorted(REGISTRY.items()):
        r = survey(info)
        if r is not None:
            refused += 1
            print(f"REFUSED {name}: {r}")
        elif show_all:
            print(f"ok      {name}")
    print(f"{refused} of {len(REGISTRY)} ops refused")


if __name__ == "__main__":
    main()
