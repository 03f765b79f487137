"""Tensor methods and Python operators, bound to the ops of fastgrad.ops."""
import types

from fastgrad import _factory, ops
from fastgrad._tensor import Tensor, bool_, float32, float64, int64

# the public ops of every general kind by name
O = types.SimpleNamespace(type_=ops._record.type_, setitem=ops.inplace.setitem,
                          clip_=ops.inplace.clip_, moveaxis=ops.shape.moveaxis)
for _m in ops.GENERAL:
    for _k in _m.__all__:
        setattr(O, _k, getattr(_m, _k))


def _r(fn):
    return lambda self, other: fn(other, self)


def _bind():
    T = Tensor
    for name in ["exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu",
                 "sign", "square", "reciprocal", "erf", "neg", "abs", "clamp", "clip", "pow",
                 "add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
                 "ge", "sum", "mean", "var", "std", "logsumexp", "max", "min", "argmax", "argmin",
                 "softmax", "log_softmax", "matmul", "mm", "reshape", "view", "flatten", "squeeze",
                 "unsqueeze", "permute", "transpose", "t", "expand", "contiguous", "clone", "to",
                 "narrow", "add_", "sub_", "mul_", "div_", "clamp_", "copy_", "fill_", "zero_",
                 "logical_and", "logical_or", "logical_not", "isnan", "isinf", "isfinite",
                 "true_divide", "multiply", "subtract", "divide", "silu", "gelu", "leaky_relu",
                 "softplus", "broadcast_to", "relu_", "masked_fill_", "clip_", "split", "chunk",
                 "unbind", "flip", "roll", "repeat", "tile", "tril", "triu", "diagonal",
                 "movedim", "moveaxis", "gather", "scatter_add", "scatter", "index_select",
                 "take_along_dim", "masked_fill",
                 "exp2", "log2", "log10", "expm1", "tan", "asin", "acos", "atan", "arcsin",
                 "arccos", "arctan", "atan2", "arctan2", "sinh", "cosh", "floor", "ceil", "round",
                 "trunc", "fix", "fmod", "remainder", "logit", "cumsum", "cumprod", "prod",
                 "norm", "amax", "amin", "all", "any", "sort", "argsort", "topk", "dot", "outer",
                 "ger", "bmm", "addmm"]:
        setattr(T, name, getattr(O, name))
    T.__add__ = O.add
    T.__radd__ = _r(O.add)
    T.__sub__ = O.sub
    T.__rsub__ = _r(O.sub)
    T.__mul__ = O.mul
    T.__rmul__ = _r(O.mul)
    T.__truediv__ = O.div
    T.__rtruediv__ = _r(O.div)
    T.__pow__ = O.pow
    T.__rpow__ = _r(O.pow)
    T.__matmul__ = O.matmul
    T.__rmatmul__ = _r(O.matmul)
    T.__neg__ = O.neg
    T.__pos__ = lambda self: self
    T.__abs__ = O.abs
    T.__eq__ = O.eq
    T.__ne__ = O.ne
    T.__lt__ = O.lt
    T.__le__ = O.le
    T.__gt__ = O.gt
    T.__ge__ = O.ge
    T.__and__ = O.logical_and
    T.__or__ = O.logical_or
    T.__invert__ = O.logical_not
    T.__mod__ = O.remainder
    T.__rmod__ = _r(O.remainder)
    T.__getitem__ = O.getitem
    T.__setitem__ = O.setitem
    T.__iadd__ = O.add_
    T.__isub__ = O.sub_
    T.__imul__ = O.mul_
    T.__itruediv__ = O.div_
    T.T = property(lambda self: O.permute(self, tuple(reversed(range(self.data.ndim)))))
    T.mT = property(lambda self: O.transpose(self, -1, -2))
    T.float = lambda self: O.to(self, float32)
    T.double = lambda self: O.to(self, float64)
    T.long = lambda self: O.to(self, int64)
    T.bool = lambda self: O.to(self, bool_)
    T.type = O.type_
    T.new_zeros = lambda self, *size: _factory.zeros(*size, dtype=self.data.dtype)
    T.new_ones = lambda self, *size: _factory.ones(*size, dtype=self.data.dtype)


_bind()
