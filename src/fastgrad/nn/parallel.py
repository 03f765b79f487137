"""Data-parallel training across processes: :class:`DistributedDataParallel`.

Run one process per worker with ``mpirun -n N`` and ``fastgrad.distributed.
init_process_group("mpi")``; wrap the model; train as usual on each rank's shard of the
data (``fastgrad.data.DistributedSampler``)::

    model = DistributedDataParallel(build_model())
    opt = fastgrad.optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()          # gradients are averaged over the ranks by the time it returns
        opt.step()

How gradients are averaged.  Parameters that need gradients are grouped, in reverse
registration order (roughly the order backward produces their gradients), into buckets
of at most ``bucket_cap_mb`` megabytes (the first one at most 1 MB), each with one flat
buffer.  Every parameter has a
post-accumulate-grad hook (``Tensor.register_post_accumulate_grad_hook``): when backward
has finished a parameter's gradient, the hook copies it into its bucket, and once a
bucket is full a non-blocking ``Iallreduce`` of the flat buffer starts while backward
goes on with earlier layers (the last bucket waits for the end of backward, which is due
right after it).  Buckets start strictly in order (bucket i after bucket
i - 1), so all ranks issue the same collectives in the same order.  An end-of-backward
callback (``fastgrad.autograd.queue_callback``) reduces the buckets not started yet (with
the blocking ``Allreduce``: nothing is left to overlap with, and MPI's blocking
collectives are faster than the non-blocking ones), waits for the others and writes
``sum / world_size`` back into every ``.grad``.

State dict.  As in PyTorch the wrapped model is the submodule ``module``, so
``ddp.state_dict()`` keys start with ``"module."``.  Save ``ddp.module.state_dict()`` to
get keys that load into the bare model (or strip the prefix with
:func:`consume_prefix_in_state_dict_if_present`).
"""
from __future__ import annotations

import contextlib
import zlib

import numpy as np

from fastgrad import distributed as dist
from fastgrad.autograd.engine import queue_callback
from fastgrad.nn.module import Module

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from fastgrad._typing import DType

__all__ = ["DistributedDataParallel", "consume_prefix_in_state_dict_if_present"]


class _Bucket:
    __slots__ = ("params", "offsets", "flat", "ready", "nready", "req")

    def __init__(self, params, dtype: DType) -> None:
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p._data.size
        self.flat = np.zeros(n, dtype=dtype)
        self.ready = [False] * len(params)
        self.nready = 0
        self.req = None


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over the ranks of
    ``fastgrad.distributed`` (see the module notes).

    Args:
        module: the model; every rank must build the same architecture.  Its parameters
            and buffers are broadcast from rank 0 when wrapped, so all ranks start equal.
        broadcast_buffers: re-broadcast the buffers (e.g. BatchNorm running statistics)
            from rank 0 at every synchronised forward, as PyTorch does.
        bucket_cap_mb: largest gradient bucket, in megabytes (a larger parameter gets a
            bucket of its own; the first bucket holds at most 1 MB).
        find_unused_parameters: allow parameters that get no gradient in a backward on
            some rank: they contribute zeros; those used on at least one rank get the
            average on every rank, those used on none keep ``.grad`` unchanged.  Costs one
            small extra all-reduce per step.  Without it such a parameter raises a
            ``RuntimeError`` at the end of backward (after the collectives completed, so
            the other ranks do not hang).
    """

    def __init__(self, module, broadcast_buffers: bool = True, bucket_cap_mb: float = 25.0,
                 find_unused_parameters: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a fastgrad.nn.Module, got "
                            f"{type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group has not been "
                               "initialized; call fastgrad.distributed.init_process_group('mpi') "
                               "first")
        if not (isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0):
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, "
                             f"got {bucket_cap_mb!r}")
        self.module = module
        object.__setattr__(self, "broadcast_buffers", bool(broadcast_buffers))
        object.__setattr__(self, "find_unused_parameters", bool(find_unused_parameters))
        object.__setattr__(self, "bucket_cap_mb", float(bucket_cap_mb))
        object.__setattr__(self, "_require_sync", True)   # False inside no_sync()
        object.__setattr__(self, "_armed", False)         # the last forward asked for a sync
        object.__setattr__(self, "_active", False)        # a synchronised backward is running
        object.__setattr__(self, "_next", 0)              # next bucket to start
        object.__setattr__(self, "stats", {"early_buckets": 0, "buckets": 0})
        self._verify_same_model()
        with_names = [(n, p) for n, p in module.named_parameters()]
        for _, p in with_names:
            dist.broadcast(p, 0)
        for _, b in module.named_buffers():
            dist.broadcast(b, 0)
        self._build_buckets([(n, p) for n, p in with_names if p.requires_grad])

    # ---- setup ---------------------------------------------------------------------------------
    def _verify_same_model(self):
        """All ranks must wrap the same parameter and buffer layout: checked collectively,
        so a mismatch raises on every rank instead of corrupting or hanging later."""
        layout = [("p", n, tuple(p._data.shape), p._data.dtype.str, bool(p.requires_grad))
                  for n, p in self.module.named_parameters()]
        layout += [("b", n, tuple(b._data.shape), b._data.dtype.str)
                   for n, b in self.module.named_buffers()]
        comm = dist._group.comm
        sig = zlib.crc32(repr(layout).encode())
        sigs = comm.allgather(sig)
        if len(set(sigs)) == 1:
            return
        layouts = comm.allgather(layout)
        r = next(i for i, s in enumerate(sigs) if s != sigs[0])
        a, b = layouts[0], layouts[r]
        diff = next((f"rank 0 has {x}, rank {r} has {y}" for x, y in zip(a, b) if x != y),
                    f"rank 0 has {len(a)} parameters and buffers, rank {r} has {len(b)}")
        raise RuntimeError("DistributedDataParallel: the wrapped module differs between ranks "
                           f"(every rank must build the same model): {diff}")

    def _build_buckets(self, named):
        cap = int(self.bucket_cap_mb * 1024 * 1024)
        # as in PyTorch, the first bucket (the last layers, whose gradients come first) is
        # small, so that its all-reduce starts early in backward
        first_cap = min(cap, 1024 * 1024)
        buckets, where = [], {}
        open_ = {}                                # dtype -> params of the bucket being filled
        sizes = {}
        for name, p in reversed(named):
            dt = p._data.dtype
            if dt.kind != "f":
                raise TypeError(f"DistributedDataParallel: parameter {name!r} has dtype {dt}; "
                                "only floating-point parameters can be trained")
            cur = open_.setdefault(dt, [])
            nbytes = p._data.nbytes
            limit = first_cap if not any(b.flat.dtype == dt for b in buckets) else cap
            if cur and sizes[dt] + nbytes > limit:
                buckets.append(_Bucket(cur, dt))
                cur = open_[dt] = []
                sizes[dt] = 0
            cur.append(p)
            sizes[dt] = sizes.get(dt, 0) + nbytes
        for dt, cur in open_.items():
            if cur:
                buckets.append(_Bucket(cur, dt))
        for bi, b in enumerate(buckets):
            for pi, p in enumerate(b.params):
                where[id(p)] = (bi, pi)
                p.register_post_accumulate_grad_hook(self._make_hook(bi, pi))
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_param_names", {id(p): n for n, p in named})

    def _make_hook(self, bi, pi):
        def hook(p):
            if self._armed:
                self._grad_ready(bi, pi, p)
        return hook

    # ---- forward / no_sync -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        sync = self._require_sync and dist.get_world_size() > 1
        object.__setattr__(self, "_armed", sync)
        if sync and self.broadcast_buffers:
            for b in self.module.buffers():
                dist.broadcast(b, 0)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside this context only accumulate local
        gradients; the first synchronised backward after it averages the accumulated sum."""
        old = self._require_sync
        object.__setattr__(self, "_require_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_require_sync", old)

    # ---- gradient synchronisation --------------------------------------------------------------
    def _grad_ready(self, bi, pi, p):
        if not self._active:
            object.__setattr__(self, "_active", True)
            object.__setattr__(self, "_next", 0)
            for b in self._buckets:
                b.ready = [False] * len(b.params)
                b.nready = 0
                b.req = None
            queue_callback(self._finish)
        b = self._buckets[bi]
        if b.ready[pi]:
            return
        n = p._data.size
        off = b.offsets[pi]
        b.flat[off:off + n] = p.grad._data.reshape(-1)
        b.ready[pi] = True
        b.nready += 1
        if b.nready == len(b.params):
            self._start_ready(early=True)

    def _start_ready(self, early):
        comm = dist._group.comm
        MPI = dist._mpi()
        bs = self._buckets
        i = self._next
        while i < len(bs) and (bs[i].nready == len(bs[i].params) or not early):
            if early and i == len(bs) - 1:
                break               # the last bucket: backward is about done, _finish sends it
            b = bs[i]
            if b.nready < len(b.params):          # end of backward: unused params send zeros
                for pi, ok in enumerate(b.ready):
                    if not ok:
                        off = b.offsets[pi]
                        b.flat[off:off + b.params[pi]._data.size] = 0
            if early:               # overlaps with the rest of backward
                b.req = comm.Iallreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
                self.stats["early_buckets"] += 1
            else:                   # nothing left to overlap with: the blocking call is faster
                comm.Allreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
            i += 1
        object.__setattr__(self, "_next", i)
        if early:
            # MPI advances non-blocking collectives inside MPI calls: test the ones in
            # flight each time a bucket starts (not at every hook: on a busy machine a
            # progress call that finds nothing to do may yield the core for a time slice)
            reqs = [b.req for b in bs[:i] if b.req is not None]
            if reqs:
                MPI.Request.Testall(reqs)

    def _finish(self):
        object.__setattr__(self, "_active", False)
        object.__setattr__(self, "_armed", False)      # one synchronised backward per forward
        self._start_ready(early=False)
        MPI = dist._mpi()
        reqs = [b.req for b in self._buckets if b.req is not None]
        if reqs:
            MPI.Request.Waitall(reqs)
        self.stats["buckets"] += len(self._buckets)
        unused = [(b, pi) for b in self._buckets for pi, ok in enumerate(b.ready) if not ok]
        used_any = None
        if self.find_unused_parameters:
            mask = np.array([ok for b in self._buckets for ok in b.ready], dtype=np.uint8)
            dist._group.comm.Allreduce(MPI.IN_PLACE, mask, op=MPI.MAX)
            used_any = iter(mask.tolist())
        scale = 1.0 / dist.get_world_size()
        for b in self._buckets:
            np.multiply(b.flat, b.flat.dtype.type(scale), out=b.flat)
            for pi, p in enumerate(b.params):
                anywhere = next(used_any) if used_any is not None else 1
                if not b.ready[pi] and not anywhere:
                    continue
                if not b.ready[pi] and not self.find_unused_parameters:
                    continue
                off, n = b.offsets[pi], p._data.size
                avg = b.flat[off:off + n].reshape(p._data.shape)
                g = p.grad
                if g is None or not g._data.flags.writeable or g._data.shape != p._data.shape:
                    from fastgrad._tensor import Tensor
                    p.grad = Tensor._make(avg.copy())
                else:
                    np.copyto(g._data, avg)
                    g._version[0] += 1
        if unused and not self.find_unused_parameters:
            names = [self._param_names.get(id(b.params[pi]), "?") for b, pi in unused]
            raise RuntimeError(
                "DistributedDataParallel: parameter(s) " + ", ".join(names[:8])
                + (" ..." if len(names) > 8 else "") + f" received no gradient on rank "
                f"{dist.get_rank()} in this backward; pass find_unused_parameters=True when "
                "parts of the model are skipped, or leave those parameters out of the model")


def consume_prefix_in_state_dict_if_present(state_dict, prefix):
    """Strip ``prefix`` (e.g. ``"module."``, what a DistributedDataParallel state dict
    carries) from the keys of ``state_dict`` that start with it, in place."""
    if not isinstance(prefix, str):
        raise TypeError(f"consume_prefix_in_state_dict_if_present: prefix must be a str, got "
                        f"{type(prefix).__name__}")
    for k in list(state_dict.keys()):
        if isinstance(k, str) and k.startswith(prefix):
            state_dict[k[len(prefix):]] = state_dict.pop(k)
    return state_dict
