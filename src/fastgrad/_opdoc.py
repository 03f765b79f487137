"""The docstrings of the ops that ``elementwise.unary``, ``elementwise.binary`` and their
NumPy-computed forms declare: built from the op's name, its formula below, its dtype rule
and a worked example, so that every declared op documents itself the same way."""
import textwrap
# name -> (formula in x, example input): unary ops
UNARY = {
    "neg": ("-x (the ``-`` operator)", "[-1.5, 0.0, 2.0]"),
    "abs": ("|x| (``abs(t)``)", "[-1.5, 0.0, 2.0]"),
    "exp": ("e**x", "[-1.0, 0.0, 1.0]"),
    "log": ("ln(x), the natural logarithm (nan for x < 0, -inf at 0)", "[0.5, 1.0, 2.0]"),
    "log1p": ("ln(1 + x), accurate for small x", "[-0.5, 0.0, 1.0]"),
    "sqrt": ("x**0.5 (nan for x < 0)", "[0.0, 1.0, 4.0]"),
    "rsqrt": ("1 / sqrt(x)", "[0.25, 1.0, 4.0]"),
    "sin": ("sin(x), x in radians", "[0.0, 0.5, 1.0]"),
    "cos": ("cos(x), x in radians", "[0.0, 0.5, 1.0]"),
    "tanh": ("tanh(x) = (e**x - e**-x) / (e**x + e**-x)", "[-1.0, 0.0, 1.0]"),
    "sigmoid": ("1 / (1 + e**-x), the logistic function", "[-1.0, 0.0, 1.0]"),
    "relu": ("max(x, 0)", "[-1.0, 0.0, 2.0]"),
    "silu": ("x * sigmoid(x) (also called swish)", "[-1.0, 0.0, 1.0]"),
    "sign": ("-1, 0 or +1 by the sign of x (the derivative is 0)", "[-1.5, 0.0, 2.0]"),
    "square": ("x**2", "[-1.5, 0.0, 2.0]"),
    "reciprocal": ("1 / x", "[0.5, 1.0, 4.0]"),
    "erf": ("the error function 2/sqrt(pi) * integral from 0 to x of e**(-t**2) dt", "[-1.0, 0.0, 1.0]"),
    "exp2": ("2**x", "[-1.0, 0.0, 3.0]"),
    "log2": ("log2(x), the base-2 logarithm", "[0.5, 1.0, 8.0]"),
    "log10": ("log10(x), the base-10 logarithm", "[0.1, 1.0, 100.0]"),
    "expm1": ("e**x - 1, accurate for small x", "[-1.0, 0.0, 1.0]"),
    "tan": ("tan(x), x in radians", "[-1.0, 0.0, 1.0]"),
    "asin": ("arcsin(x), in radians, for x in [-1, 1]", "[-1.0, 0.0, 0.5]"),
    "acos": ("arccos(x), in radians, for x in [-1, 1]", "[-1.0, 0.0, 0.5]"),
    "atan": ("arctan(x), in radians", "[-1.0, 0.0, 1.0]"),
    "sinh": ("sinh(x) = (e**x - e**-x) / 2", "[-1.0, 0.0, 1.0]"),
    "cosh": ("cosh(x) = (e**x + e**-x) / 2", "[-1.0, 0.0, 1.0]"),
    "asinh": ("arsinh(x) = ln(x + sqrt(x**2 + 1))", "[-1.0, 0.0, 1.0]"),
    "acosh": ("arcosh(x) = ln(x + sqrt(x**2 - 1)), for x >= 1", "[1.0, 2.0, 4.0]"),
    "atanh": ("artanh(x) = ln((1 + x) / (1 - x)) / 2, for |x| < 1", "[-0.5, 0.0, 0.5]"),
    "mish": ("x * tanh(softplus(x))", "[-1.0, 0.0, 1.0]"),
    "hardswish": ("x * relu6(x + 3) / 6", "[-4.0, 0.0, 1.0]"),
    "hardsigmoid": ("relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between", "[-4.0, 0.0, 1.0]"),
}

# name -> (formula in a = input and b = other, example inputs): binary ops
BINARY = {
    "maximum": ("max(a, b); nan if either is nan", "[1.0, 5.0, -2.0]", "[3.0, 4.0, -1.0]"),
    "minimum": ("min(a, b); nan if either is nan", "[1.0, 5.0, -2.0]", "[3.0, 4.0, -1.0]"),
    "atan2": ("the angle of the point (b, a) in radians, in [-pi, pi]", "[1.0, 1.0, -1.0]", "[1.0, -1.0, 0.0]"),
    "hypot": ("sqrt(a**2 + b**2)", "[3.0, 5.0, 0.0]", "[4.0, 12.0, 2.0]"),
    "fmod": ("a - trunc(a / b) * b", "[5.0, -5.0, 5.5]", "[3.0, 3.0, -2.0]"),
    "remainder": ("a - floor(a / b) * b (the ``%`` operator)", "[5.0, -5.0, 5.5]", "[3.0, 3.0, -2.0]"),
    "logaddexp": ("ln(e**a + e**b)", "[0.0, 1.0, 100.0]", "[0.0, 2.0, 100.0]"),
    "logaddexp2": ("log2(2**a + 2**b)", "[0.0, 1.0, 100.0]", "[0.0, 2.0, 100.0]"),
    "copysign": ("|a| with the sign of b", "[1.0, -2.0, 3.0]", "[-1.0, 1.0, -0.0]"),
}

_UNARY_INT = "Integer and bool inputs compute in the default float dtype (float32); a floating input keeps its dtype."
_KEEPS_INT = {"neg", "abs", "sign", "square", "relu"}


def _wrap(text):
    return textwrap.fill(text, 88, break_on_hyphens=False)


def _example(call, out):
    return "Example::\n\n    >>> import fastgrad as fg\n    >>> " + call + "\n    " + out.replace("\n", "\n    ")


def unary_doc(name, doc, aliases=(), lowp=True):
    """The docstring of the unary op ``name`` (``doc``, when given, is its first line)."""
    formula, example = UNARY.get(name, (None, None))
    head = doc or (f"{formula}, elementwise." if formula else None)
    if head is None:
        return None
    dtype = ("Integer inputs keep their dtype (as in PyTorch); floating ones keep theirs."
             if name in _KEEPS_INT else _UNARY_INT)
    if lowp:
        dtype += "  float16 and bfloat16 compute in float32 and round back."
    parts = [_wrap(head), _wrap(f"``input``: a Tensor; the output has its shape.  {dtype}  Differentiable "
                                "(gradients of any order).")]
    if aliases:
        parts.append("Also available as " + ", ".join(f"``{a}``" for a in aliases) + ".")
    if example is not None:
        parts.append(_example(f"fg.{name}(fg.tensor({example}))", _EXAMPLES.get(name, "")))
    return "\n\n".join(parts)


def binary_doc(name, doc, aliases=()):
    """The docstring of the broadcasting binary op ``name``."""
    formula, ea, eb = BINARY.get(name, (None, None, None))
    head = doc or (f"{formula}, elementwise." if formula else None)
    if head is None:
        return None
    parts = [_wrap(head if formula is None or doc is None else f"{doc}  Elementwise: {formula}."),
             _wrap("With a = ``input`` and b = ``other``: Tensors or Python numbers, broadcast together "
                   "(NumPy's rules); the output has the broadcast shape and the dtype that PyTorch's "
                   "type promotion gives (``fastgrad.result_type``).  Differentiable in both inputs.")]
    if aliases:
        parts.append("Also available as " + ", ".join(f"``{a}``" for a in aliases) + ".")
    if ea is not None:
        parts.append(_example(f"fg.{name}(fg.tensor({ea}), fg.tensor({eb}))", _EXAMPLES.get(name, "")))
    return "\n\n".join(parts)


# the examples' printed results (tests/test_docstrings.py runs every example as a doctest)
_EXAMPLES = {
    'neg': 'tensor([ 1.5, -0. , -2. ])',
    'abs': 'tensor([1.5, 0. , 2. ])',
    'exp': 'tensor([0.3679, 1.    , 2.7183])',
    'log': 'tensor([-0.6931,  0.    ,  0.6931])',
    'log1p': 'tensor([-0.6931,  0.    ,  0.6931])',
    'sqrt': 'tensor([0., 1., 2.])',
    'rsqrt': 'tensor([2. , 1. , 0.5])',
    'sin': 'tensor([0.    , 0.4794, 0.8415])',
    'cos': 'tensor([1.    , 0.8776, 0.5403])',
    'tanh': 'tensor([-0.7616,  0.    ,  0.7616])',
    'sigmoid': 'tensor([0.2689, 0.5   , 0.7311])',
    'relu': 'tensor([0., 0., 2.])',
    'silu': 'tensor([-0.2689,  0.    ,  0.7311])',
    'sign': 'tensor([-1.,  0.,  1.])',
    'square': 'tensor([2.25, 0.  , 4.  ])',
    'reciprocal': 'tensor([2.  , 1.  , 0.25])',
    'erf': 'tensor([-0.8427,  0.    ,  0.8427])',
    'exp2': 'tensor([0.5, 1. , 8. ])',
    'log2': 'tensor([-1.,  0.,  3.])',
    'log10': 'tensor([-1.,  0.,  2.])',
    'expm1': 'tensor([-0.6321,  0.    ,  1.7183])',
    'tan': 'tensor([-1.5574,  0.    ,  1.5574])',
    'asin': 'tensor([-1.5708,  0.    ,  0.5236])',
    'acos': 'tensor([3.1416, 1.5708, 1.0472])',
    'atan': 'tensor([-0.7854,  0.    ,  0.7854])',
    'sinh': 'tensor([-1.1752,  0.    ,  1.1752])',
    'cosh': 'tensor([1.5431, 1.    , 1.5431])',
    'asinh': 'tensor([-0.8814,  0.    ,  0.8814])',
    'acosh': 'tensor([0.    , 1.317 , 2.0634])',
    'atanh': 'tensor([-0.5493,  0.    ,  0.5493])',
    'mish': 'tensor([-0.3034,  0.    ,  0.8651])',
    'hardswish': 'tensor([-0.    ,  0.    ,  0.6667])',
    'hardsigmoid': 'tensor([0.    , 0.5   , 0.6667])',
    'maximum': 'tensor([ 3.,  5., -1.])',
    'minimum': 'tensor([ 1.,  4., -2.])',
    'atan2': 'tensor([ 0.7854,  2.3562, -1.5708])',
    'hypot': 'tensor([ 5., 13.,  2.])',
    'fmod': 'tensor([ 2. , -2. ,  1.5])',
    'remainder': 'tensor([ 2. ,  1. , -0.5])',
    'logaddexp': 'tensor([  0.6931,   2.3133, 100.6931])',
    'logaddexp2': 'tensor([  1.   ,   2.585, 101.   ])',
    'copysign': 'tensor([-1.,  2., -3.])',
}
