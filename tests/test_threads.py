"""Threading: the GEMM task pool under concurrent callers and across fork()."""
import os
import threading

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K


def test_concurrent_python_threads_get_correct_products():
    fg.set_num_threads(2)
    rng = np.random.default_rng(0)
    mats = [(rng.standard_normal((200, 150)).astype(np.float32),
             rng.standard_normal((150, 170)).astype(np.float32)) for _ in range(4)]
    want = [a.astype(np.float64) @ b for a, b in mats]
    errors = []

    def work(i):
        a, b = mats[i]
        for _ in range(30):
            got = K.matmul(a, b)
            if not np.allclose(got, want[i], rtol=1e-4, atol=1e-3):
                errors.append(i)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_pool_works_in_a_forked_child():
    fg.set_num_threads(2)
    a = np.ones((300, 300), np.float32)
    K.matmul(a, a)                            # start the pool's workers in the parent
    pid = os.fork()
    if pid == 0:                              # child: the workers did not survive fork
        try:
            ok = np.allclose(K.matmul(a, a), 300.0)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
