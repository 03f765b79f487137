"""fastgrad: reverse-mode autodiff for small neural networks on the CPU.

C kernels (SIMD, OpenMP) under a PyTorch-style Tensor API, with a pure-NumPy reference
backend as the correctness oracle.
"""
__version__ = "0.1.0"

import os as _os

# Let fastgrad's OpenMP threads stop spinning soon after a kernel (a few microseconds
# instead of GNU OpenMP's default of ~0.3 s), so they do not fight NumPy's BLAS threads
# for the same cores.  Takes effect only if no OpenMP runtime is loaded yet and the user
# chose no wait policy of their own.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "20000"

from fastgrad._tensor import (Tensor, as_tensor, from_numpy, get_default_dtype,
                              set_default_dtype, tensor, result_dtype)
from fastgrad._tensor import float32, float64, int64, bool_
from fastgrad import ops
from fastgrad.ops._record import *
from fastgrad.ops.elementwise import *
from fastgrad.ops.reduce import *
from fastgrad.ops.linalg import *
from fastgrad.ops.shape import *
from fastgrad.ops.indexing import *
from fastgrad.ops.inplace import *
from fastgrad.ops.sort import *
from fastgrad.ops.elementwise import abs, pow, round
from fastgrad.ops.reduce import all, any, max, min, sum
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

float = float32  # noqa: A001 - PyTorch's aliases
double = float64
long = int64
bool = bool_  # noqa: A001

from fastgrad import nn
from fastgrad import reference
from fastgrad import data, datasets, optim
from fastgrad.data import Generator
from fastgrad.serialization import load, save

from fastgrad import viz
from fastgrad import memory
from fastgrad.compile import compile, CompileError

_config_init()
