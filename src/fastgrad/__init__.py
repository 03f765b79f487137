"""fastgrad: reverse-mode autodiff for small neural networks on the CPU.

C kernels (SIMD, on fastgrad's own thread pool) under a PyTorch-style Tensor API, with a pure-NumPy reference
backend as the correctness oracle.
"""
__version__ = "0.1.0"

from fastgrad._tensor import (Tensor, as_tensor, from_numpy, get_default_dtype,
                              set_default_dtype, tensor, result_dtype, result_type)
from fastgrad._dtype import (dtype, finfo, iinfo, promote_types, can_cast, DtypeNotSupported,
                             uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
from fastgrad._dtype import bool as bool_
from fastgrad import ops
from fastgrad.ops._record import *
from fastgrad.ops.elementwise import *
from fastgrad.ops.bitwise import *
from fastgrad.ops.reduce import *
from fastgrad.ops.linalg import *
from fastgrad.ops.shape import *
from fastgrad.ops.indexing import *
from fastgrad.ops.inplace import *
from fastgrad.ops.sort import *
from fastgrad.ops.random import *
from fastgrad.ops.extra_methods import *
from fastgrad.ops.extra_math import *
from fastgrad.ops.extra_shape import *
from fastgrad.ops.extra_sort import *
from fastgrad.ops.extra_methods import is_floating_point, is_tensor, numel
from fastgrad.ops.elementwise import abs, pow, round
from fastgrad.ops.reduce import all, any, max, min, sum
from typing import TYPE_CHECKING as _TYPE_CHECKING
if _TYPE_CHECKING:      # the op modules' __all__ is built at import time: their names, stated
    from fastgrad._api_types import *
from fastgrad import _methods
from fastgrad._factory import (arange, empty, empty_like, eye, full, full_like,
                               initial_seed, linspace, manual_seed, ones, ones_like, rand,
                               rand_like, randint, randn, randn_like, randperm, zeros, zeros_like)
from fastgrad import _factory
from fastgrad._config import (available_simd, get_backend, get_num_threads, get_simd,
                              set_backend, set_num_threads, set_simd, show_config, use_backend)
from fastgrad._config import _init as _config_init
from fastgrad import autograd
from fastgrad.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from fastgrad.autograd import inference_mode, is_inference_mode_enabled
from fastgrad._device import device
from fastgrad import accelerator, backends, cuda, errors
from fastgrad import onnx
from fastgrad.errors import ArgumentError, DtypeError, IndexOutOfRangeError, ShapeError

# PyTorch's other names of the dtypes, and its legacy tensor types (fastgrad.FloatTensor, ...)
bool = bool_  # noqa: A001
half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64
from fastgrad._dtype import TENSOR_TYPES as _TENSOR_TYPES
globals().update(_TENSOR_TYPES)

from fastgrad import nn
from fastgrad import reference
from fastgrad import data, datasets, optim
from fastgrad.data import Generator
from fastgrad import amp, utils
from fastgrad.amp import autocast
from fastgrad.serialization import load, save

from fastgrad import viz
from fastgrad import special
from fastgrad._dlpack import from_dlpack
from fastgrad import memory
from fastgrad.compile import compile, CompileError
from fastgrad import distributions

_config_init()
