"""The registry's building blocks: ``Sample``, ``ErrorInput``, ``OpInfo``, the ``OpTable``
each kind module fills, and the sample helpers the kind modules share.

Sample arguments: NumPy float arrays become float tensors (requires_grad when the entry
is differentiable), integer/bool arrays become int64/bool tensors, anything else is
passed as is.  ``ref`` gets float64 copies of the float arrays (the oracle is computed
in double precision, then compared at the dtype's tolerance).
"""
import numpy as np


class Sample:
    __slots__ = ("args", "kwargs", "desc", "grad")

    def __init__(self, args, kwargs=None, desc="", grad=True):
        self.args = tuple(args)
        self.kwargs = kwargs or {}
        self.desc = desc
        self.grad = grad         # also used by gradcheck (keep these small)

    def __repr__(self):
        shapes = [a.shape if isinstance(a, np.ndarray) else a for a in self.args]
        return f"Sample({shapes}, {self.kwargs}, {self.desc!r})"


class ErrorInput:
    __slots__ = ("args", "kwargs", "exc", "match")

    def __init__(self, args, kwargs, exc, match):
        self.args, self.kwargs, self.exc, self.match = tuple(args), kwargs or {}, exc, match


class OpInfo:
    """One registry entry.  ``covers`` names the public ops the entry exercises when they
    differ from ``name`` (an entry ``inplace_add_`` covers ``add_``); the completeness
    test counts an op as covered when some entry is named after it or covers it."""

    def __init__(self, name, op, ref, samples, errors=None, grad=True, gradgrad=True,
                 rtol32=2e-5, atol32=2e-6, unary_kernel=None, domain=None, extreme=True,
                 returns_index=False, keeps_dtype=True, covers=()):
        self.name = name
        self.op = op                  # callable on Tensors (and plain args)
        self.ref = ref                # callable on float64 NumPy arrays
        self.samples = samples        # samples(rng) -> [Sample]
        self.errors = errors or (lambda: [])
        self.grad = grad
        self.gradgrad = gradgrad
        self.rtol32, self.atol32 = rtol32, atol32
        self.unary_kernel = unary_kernel   # name in the C kernel table, for extreme-value tests
        self.domain = domain
        self.extreme = extreme
        self.returns_index = returns_index
        self.keeps_dtype = keeps_dtype     # output dtype == input dtype
        self.covers = tuple(covers)

    def __repr__(self):
        return f"OpInfo({self.name})"


class OpTable(list):
    """The entries of one kind module, in declaration order.  Its bound methods are the
    kind module's declaration forms: ``register(OpInfo(...))`` for any entry,
    ``simple(...)`` for an op without extreme-value tests (shape, indexing, in-place),
    ``unary(...)`` for a unary elementwise op (standard samples and errors)."""

    def register(self, info):
        if any(i.name == info.name for i in self):
            raise ValueError(f"op {info.name!r} registered twice")
        self.append(info)
        return info

    def simple(self, name, op, ref, samples, errors=None, **kw):
        return self.register(OpInfo(name, op, ref, samples, errors, extreme=False, **kw))

    def unary(self, name, op, ref, lo=-3.0, hi=3.0, away=0.0, kernel=None, gradgrad=True,
              public=None, **kw):
        """``kernel``: the op's name in the C unary table (default ``name``); ``public``:
        the name its errors carry (default ``name``); ``kw``: keyword arguments of every
        sample."""
        return self.register(OpInfo(name, op, ref, unary_samples(lo, hi, away, **kw),
                                    unary_errors(public or name, kw), gradgrad=gradgrad,
                                    unary_kernel=kernel or name, domain=(lo, hi)))


# ---- sample helpers -------------------------------------------------------------------------
def _u(rng, shape, lo, hi, away=0.0):
    """Uniform on [lo, hi) in float64, moved ``away`` from zero."""
    x = rng.uniform(lo, hi, size=shape)
    if away:
        x = np.where(x >= 0, x + away, x - away)
    return x


def _i(*vals):
    return np.array(vals, dtype=np.int64)


def _tup(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def np_dims(dim):
    """A fastgrad ``dim`` argument as NumPy's ``axis``."""
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def unary_samples(lo=-3.0, hi=3.0, away=0.0, **kwargs):
    def samples(rng):
        out = [
            Sample([_u(rng, (), lo, hi, away)], kwargs, "0-d"),
            Sample([_u(rng, (7,), lo, hi, away)], kwargs, "1-d"),
            Sample([_u(rng, (3, 4), lo, hi, away)], kwargs, "2-d"),
            Sample([_u(rng, (4, 3), lo, hi, away).T], kwargs, "transposed view"),
            Sample([_u(rng, (2, 3, 8), lo, hi, away)[:, ::2, 1::3]], kwargs, "strided view"),
            Sample([np.zeros((0, 3))], kwargs, "zero-size"),
            Sample([_u(rng, (300, 250), lo, hi, away)], kwargs, "large (threaded)", grad=False),
        ]
        return out
    return samples


BIN_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((5,), ()),
              ((0, 3), (3,)), ((1, 4), (3, 1))]


def binary_samples(lo=-3.0, hi=3.0, blo=None, bhi=None, away=0.0, scalar=1.5):
    blo = lo if blo is None else blo
    bhi = hi if bhi is None else bhi

    def samples(rng):
        out = [Sample([_u(rng, sa, lo, hi, away), _u(rng, sb, blo, bhi, away)], desc=f"{sa} {sb}")
               for sa, sb in BIN_SHAPES]
        out.append(Sample([_u(rng, (4, 3), lo, hi, away).T, _u(rng, (3, 4), blo, bhi, away)[:, ::-1]],
                          desc="views"))
        out.append(Sample([_u(rng, (3, 4), lo, hi, away), scalar], desc="tensor-scalar"))
        out.append(Sample([scalar, _u(rng, (3, 4), blo, bhi, away)], desc="scalar-tensor"))
        out.append(Sample([_u(rng, (200, 300), lo, hi, away), _u(rng, (300,), blo, bhi, away)],
                          desc="large broadcast", grad=False))
        return out
    return samples


def unary_errors(op, kwargs):
    def errors():
        return [ErrorInput(["not a tensor"], kwargs, TypeError, op)]
    return errors


def binary_errors(op):
    def errors():
        return [ErrorInput([np.zeros((2, 3)), np.zeros((4,))], {}, ValueError,
                           rf"{op}: shapes \(2, 3\) and \(4,\) cannot be broadcast")]
    return errors


def dim_errors(op, **kw):
    def errors():
        return [ErrorInput([np.zeros((2, 3))], dict(kw, dim=2), IndexError,
                           rf"{op}: dimension 2 is out of range")]
    return errors
