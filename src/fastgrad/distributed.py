"""Collectives across processes over MPI (``torch.distributed``'s names), for data-parallel
training with :class:`fastgrad.nn.parallel.DistributedDataParallel`.

Needs ``mpi4py`` and an MPI runtime: ``pip install "fastgrad[distributed]"`` installs both
(Open MPI from wheels); a system MPI with ``mpi4py`` built against it works too.  Start N
processes with ``mpirun -n N python script.py``; each calls::

    import fastgrad.distributed as dist
    dist.init_process_group("mpi")            # rank and world size come from MPI
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # in place, on every rank

Data path.  The collectives work in place on a tensor's NumPy buffer through MPI's buffer
interface (``Allreduce``/``Bcast``/``Allgather`` of mpi4py, never pickling).  A
non-contiguous tensor is reduced through a contiguous copy that is written back.  Every
rank must call the same collectives in the same order with tensors of the same shape
and dtype (an MPI rule; a mismatch is not detected by these calls).

Failures.  ``init_process_group`` installs an ``sys.excepthook`` that, after printing the
traceback, calls ``MPI.COMM_WORLD.Abort(1)``: an uncaught exception on one rank ends the
whole job with a non-zero exit status instead of leaving the other ranks waiting forever
in a collective (pass ``abort_on_exception=False`` to opt out).  Helpers that can fail on
one rank only (``load_and_broadcast``, ``save_on_rank0``) first agree on the outcome, so
the same exception is raised on every rank.

Checkpoints.  ``save_on_rank0(obj, path)`` writes with :func:`fastgrad.save` on rank 0 and
waits for it on all ranks; ``load_and_broadcast(path)`` reads on rank 0 and sends the
result to every rank (the tensors by ``Bcast`` of their buffers).
"""
import sys

import numpy as np

from fastgrad._tensor import Tensor

__all__ = ["ReduceOp", "Work", "is_available", "init_process_group", "destroy_process_group",
           "is_initialized", "get_rank", "get_world_size", "get_backend", "barrier",
           "all_reduce", "broadcast", "all_gather", "save_on_rank0", "load_and_broadcast"]


class ReduceOp:
    """Reduction operators for :func:`all_reduce`."""
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class _Group:
    comm = None          # a duplicate of MPI.COMM_WORLD, private to fastgrad
    rank = 0
    size = 1
    prev_hook = None     # sys.excepthook before init_process_group
    MPI = None           # the mpi4py.MPI module, once imported
    ops = None           # ReduceOp -> MPI.Op (numbers); bool tensors use LOR / LAND


_group = _Group()


def _mpi():
    if _group.MPI is not None:
        return _group.MPI
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("fastgrad.distributed needs mpi4py and an MPI runtime: "
                          'pip install "fastgrad[distributed]" (' + str(e) + ")") from None
    _group.MPI = MPI
    _group.ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
                  ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD}
    return MPI


def is_available():
    """True when mpi4py can be imported."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def _require(who):
    if _group.comm is None:
        raise RuntimeError(f"{who}: the default process group has not been initialized; call "
                           "fastgrad.distributed.init_process_group('mpi') first")
    return _group.comm


def init_process_group(backend="mpi", *, abort_on_exception=True):
    """Join the job started by ``mpirun``: rank and world size come from ``MPI.COMM_WORLD``.
    Only the ``"mpi"`` backend exists.  With ``abort_on_exception`` (default) an uncaught
    exception on any rank aborts every rank (see the module notes)."""
    if backend != "mpi":
        raise ValueError(f"init_process_group: unsupported backend {backend!r}; fastgrad "
                         "supports only 'mpi'")
    if _group.comm is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() first")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()     # fastgrad's traffic never mixes with the user's own
    _group.comm, _group.rank, _group.size = comm, comm.Get_rank(), comm.Get_size()
    if abort_on_exception:
        _group.prev_hook = sys.excepthook
        sys.excepthook = _abort_hook


def _abort_hook(etype, value, tb):
    prev = _group.prev_hook or sys.__excepthook__
    try:
        prev(etype, value, tb)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        if _group.comm is not None and _group.size > 1:
            sys.stderr.write(f"fastgrad.distributed: rank {_group.rank} failed with "
                             f"{etype.__name__}; aborting all {_group.size} ranks\n")
            sys.stderr.flush()
            _mpi().COMM_WORLD.Abort(1)


def destroy_process_group():
    """Leave the process group (frees fastgrad's communicator, restores sys.excepthook).
    MPI itself stays initialized until the process exits."""
    comm = _require("destroy_process_group")
    if sys.excepthook is _abort_hook:
        sys.excepthook = _group.prev_hook or sys.__excepthook__
    _group.prev_hook = None
    _group.comm, _group.rank, _group.size = None, 0, 1
    comm.Free()


def is_initialized():
    return _group.comm is not None


def get_rank():
    """This process's rank, 0 .. world_size - 1."""
    _require("get_rank")
    return _group.rank


def get_world_size():
    """Number of processes in the job."""
    _require("get_world_size")
    return _group.size


def _local_world_size():
    """How many ranks of the job run on this machine (to split its cores among them)."""
    comm = _require("local world size")
    MPI = _mpi()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def get_backend():
    _require("get_backend")
    return "mpi"


def barrier():
    """Wait until every rank has reached this call."""
    _require("barrier").Barrier()


# ---- tensor collectives ------------------------------------------------------------------------
def _check_tensor(tensor, who, name="tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: {name} must be a fastgrad.Tensor, got {type(tensor).__name__}")
    arr = tensor._data
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{who}: unsupported dtype {arr.dtype} of {name}")
    if not arr.flags.writeable:
        raise ValueError(f"{who}: {name} (shape {tuple(arr.shape)}) is read-only (a broadcast or "
                         "expanded view?); collectives write their result in place")
    return arr


def _contiguous(arr):
    """(buffer MPI can use, whether it is a copy to write back)."""
    if arr.flags.c_contiguous:
        return arr, False
    return np.ascontiguousarray(arr), True


def _done(tensor, arr, buf, copied):
    if copied:
        np.copyto(arr, buf)
    tensor._version[0] += 1


def _check_src(src, who):
    size = _group.size
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < size:
        raise ValueError(f"{who}: src must be a rank in [0, {size - 1}], got {src!r}")
    return int(src)


def _mpi_op(op, arr, who):
    kind = arr.dtype.kind
    mop = _group.ops.get(op) if isinstance(op, str) else None
    if mop is None:
        raise ValueError(f"{who}: unknown op {op!r}; use fastgrad.distributed.ReduceOp."
                         "SUM, AVG, MAX, MIN or PRODUCT")
    if kind == "f":
        return mop
    if op == ReduceOp.AVG:
        raise TypeError(f"{who}: ReduceOp.AVG needs a floating-point tensor, got {arr.dtype}")
    if kind == "b":
        if op in (ReduceOp.SUM, ReduceOp.PRODUCT):
            raise TypeError(f"{who}: ReduceOp.{op.upper()} is not defined for bool tensors; use "
                            "MAX (any) or MIN (all)")
        return _group.MPI.LOR if op == ReduceOp.MAX else _group.MPI.LAND
    return mop


class Work:
    """The handle of an ``async_op=True`` collective: ``wait()`` blocks until the result is
    in the tensor; ``is_completed()`` tests without blocking."""

    def __init__(self, request, finish):
        self._req, self._finish = request, finish

    def is_completed(self):
        if self._req is None:
            return True
        if self._req.Test():
            self._complete()
            return True
        return False

    def wait(self):
        if self._req is not None:
            self._req.Wait()
            self._complete()
        return True

    def _complete(self):
        self._req = None
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Reduce ``tensor`` over all ranks in place: afterwards every rank holds the sum
    (``AVG``: the mean, floating point only; ``MAX``, ``MIN``, ``PRODUCT``).  With
    ``async_op=True`` returns a :class:`Work` (``Iallreduce``); the tensor holds the result
    after ``wait()``."""
    who = "all_reduce"
    comm = _require(who)
    arr = _check_tensor(tensor, who)
    mop = _mpi_op(op, arr, who)
    buf, copied = _contiguous(arr)
    MPI = _group.MPI
    if async_op:
        size = _group.size

        def finish():
            if op == ReduceOp.AVG:
                np.multiply(buf, buf.dtype.type(1.0 / size), out=buf)
            _done(tensor, arr, buf, copied)
        return Work(comm.Iallreduce(MPI.IN_PLACE, buf, op=mop), finish)
    comm.Allreduce(MPI.IN_PLACE, buf, op=mop)
    if op == ReduceOp.AVG:
        np.multiply(buf, buf.dtype.type(1.0 / _group.size), out=buf)
    if copied:
        np.copyto(arr, buf)
    tensor._version[0] += 1
    return None


def broadcast(tensor, src=0, async_op=False):
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every other rank, in place."""
    who = "broadcast"
    comm = _require(who)
    src = _check_src(src, who)
    arr = _check_tensor(tensor, who)
    buf, copied = _contiguous(arr)
    if async_op:
        return Work(comm.Ibcast(buf, root=src), lambda: _done(tensor, arr, buf, copied))
    comm.Bcast(buf, root=src)
    _done(tensor, arr, buf, copied)
    return None


def all_gather(tensor_list, tensor):
    """Fill ``tensor_list[i]`` with ``tensor`` of rank i, on every rank.  ``tensor_list``
    holds ``world_size`` tensors of ``tensor``'s shape and dtype."""
    who = "all_gather"
    comm = _require(who)
    arr = _check_tensor(tensor, who)
    size = _group.size
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != size:
        n = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={size} tensors, "
                         f"got {n}")
    outs = []
    for i, t in enumerate(tensor_list):
        a = _check_tensor(t, who, f"tensor_list[{i}]")
        if a.shape != arr.shape or a.dtype != arr.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(a.shape)} and dtype "
                             f"{a.dtype}; expected {tuple(arr.shape)} and {arr.dtype} like tensor")
        outs.append(a)
    send = np.ascontiguousarray(arr)
    recv = np.empty((size,) + arr.shape, dtype=arr.dtype)
    comm.Allgather(send, recv)
    for t, a, r in zip(tensor_list, outs, recv):
        np.copyto(a, r)
        t._version[0] += 1


# ---- checkpoints -------------------------------------------------------------------------------
def _agree(ok, message, who):
    """Every rank learns whether all succeeded; on failure all raise the first message."""
    comm = _require(who)
    results = comm.allgather(None if ok else message)
    bad = [(r, m) for r, m in enumerate(results) if m is not None]
    if bad:
        r, m = bad[0]
        raise RuntimeError(f"{who}: failed on rank {r}: {m}")


def save_on_rank0(obj, path):
    """``fastgrad.save(obj, path)`` on rank 0 only; every rank returns once the file is
    written, and every rank raises if rank 0 could not write it."""
    from fastgrad.serialization import save
    who = "save_on_rank0"
    _require(who)
    err = None
    if _group.rank == 0:
        try:
            save(obj, path)
        except Exception as e:  # noqa: BLE001 - any failure is reported on every rank by _agree
            err = f"{type(e).__name__}: {e}"
    _agree(err is None, err, who)


class _Slot:
    """Placeholder for an array in the structure rank 0 sends (the data follows by Bcast)."""
    __slots__ = ("i", "tensor", "requires_grad", "shape", "dtype")

    def __init__(self, i, tensor, requires_grad, shape, dtype):
        self.i, self.tensor, self.requires_grad = i, tensor, requires_grad
        self.shape, self.dtype = shape, dtype

    def __getstate__(self):
        return (self.i, self.tensor, self.requires_grad, self.shape, self.dtype)

    def __setstate__(self, s):
        self.i, self.tensor, self.requires_grad, self.shape, self.dtype = s


def _strip(obj, arrays, seen):
    """Replace every Tensor / ndarray in a loaded checkpoint by a _Slot."""
    if isinstance(obj, (Tensor, np.ndarray)):
        k = id(obj)
        if k in seen:
            return seen[k]
        is_t = isinstance(obj, Tensor)
        arr = np.ascontiguousarray(obj._data if is_t else obj)
        slot = _Slot(len(arrays), is_t, bool(obj.requires_grad) if is_t else False,
                     arr.shape, arr.dtype.str)
        arrays.append(arr)
        seen[k] = slot
        return slot
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) is not dict else {}
        for k, v in obj.items():
            out[k] = _strip(v, arrays, seen)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_strip(v, arrays, seen) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _fill(obj, made):
    if isinstance(obj, _Slot):
        return made[obj.i]
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) is not dict else {}
        for k, v in obj.items():
            out[k] = _fill(v, made)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_fill(v, made) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _slots(obj, acc):
    if isinstance(obj, _Slot):
        acc[obj.i] = obj
    elif isinstance(obj, dict):
        for v in obj.values():
            _slots(v, acc)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _slots(v, acc)
    return acc


def load_and_broadcast(path, src=0):
    """``fastgrad.load(path)`` on rank ``src`` only, the result sent to every rank: its
    structure (dicts, lists, scalars) by one small pickled broadcast, every tensor and array
    by ``Bcast`` of its buffer.  If rank ``src`` cannot load the file, every rank raises."""
    from fastgrad.serialization import load
    who = "load_and_broadcast"
    comm = _require(who)
    src = _check_src(src, who)
    arrays = []
    if _group.rank == src:
        try:
            obj = load(path)
            header = ("ok", _strip(obj, arrays, {}))
        except Exception as e:  # noqa: BLE001 - any failure is sent to the other ranks
            header = ("error", f"{type(e).__name__}: {e}")
    else:
        header = None
    header = comm.bcast(header, root=src)
    if header[0] == "error":
        raise RuntimeError(f"{who}: rank {src} could not load {path!r}: {header[1]}")
    skel = header[1]
    slots = _slots(skel, {})
    made = {}
    for i in sorted(slots):
        s = slots[i]
        arr = arrays[i] if _group.rank == src else np.empty(s.shape, dtype=np.dtype(s.dtype))
        comm.Bcast(arr, root=src)
        if s.tensor:
            t = Tensor._make(arr)
            if s.requires_grad:
                t.requires_grad_(True)
            made[i] = t
        else:
            made[i] = arr
    return _fill(skel, made)
