"""DataLoader worker processes: the loop each worker runs and the iterator that feeds and
drains them (``DataLoader(num_workers=N)``).

Protocol.  Each worker has its own index queue; all share one result queue.  The calling
process sends ``(epoch, task, indices)`` to the workers in turn, keeping at most
``prefetch_factor`` tasks outstanding per worker, and sends None to stop one.  A worker
answers ``(epoch, task, worker_id, payload)``: a batch with its Tensors replaced by NumPy
arrays, :class:`_Exhausted` when its copy of an iterable dataset has run out, or
:class:`_WorkerError` with the formatted traceback.  The caller buffers answers that
arrive early and yields them in task order (``in_order=True``); answers from an earlier
epoch (a persistent worker's leftovers) are dropped.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import time
import traceback
import weakref

import numpy as np

from fastgrad import data as _data
from fastgrad._tensor import Tensor

_POLL_S = 1.0               # how often a waiting side checks that the other is still alive
_JOIN_S = 5.0               # how long a stopping worker gets before it is terminated


def resolve_context(ctx):
    """A multiprocessing context from None (Python's default start method), a start
    method name, or a context object."""
    if ctx is None:
        return multiprocessing.get_context()
    if isinstance(ctx, str):
        try:
            return multiprocessing.get_context(ctx)
        except ValueError:
            raise ValueError(f"DataLoader: multiprocessing_context={ctx!r} is not a start method "
                             f"on this platform; expected one of "
                             f"{multiprocessing.get_all_start_methods()}") from None
    if isinstance(ctx, multiprocessing.context.BaseContext):
        return ctx
    raise TypeError("DataLoader: multiprocessing_context must be a start method name or a "
                    f"multiprocessing context, got {type(ctx).__name__}")


# ---- what crosses the process boundary --------------------------------------------------------
class _PackedTensor:
    __slots__ = ("array", "requires_grad")

    def __init__(self, array, requires_grad) -> None:
        self.array, self.requires_grad = array, requires_grad

    def __reduce__(self):
        return (_PackedTensor, (self.array, self.requires_grad))


class _Exhausted:
    """A worker's copy of an iterable dataset has no more batches this epoch."""


class _WorkerError:
    def __init__(self, worker_id, exc) -> None:
        self.exc_type = type(exc)
        try:
            pickle.dumps(self.exc_type)
        except Exception:  # noqa: BLE001 - a class the caller could not import (a local class)
            self.exc_type = RuntimeError
        self.worker_id = worker_id
        self.text = "".join(traceback.format_tb(exc.__traceback__)
                            + traceback.format_exception_only(type(exc), exc))

    def __reduce__(self):
        return (_rebuild_error, (self.exc_type, self.worker_id, self.text))

    def reraise(self):
        msg = (f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id}.\n"
               f"Original Traceback (most recent call last):\n{self.text}")
        try:
            err = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - exception types whose constructor needs other arguments
            err = RuntimeError(msg)
        raise err


def _rebuild_error(exc_type, worker_id, text):
    e = _WorkerError.__new__(_WorkerError)
    e.exc_type, e.worker_id, e.text = exc_type, worker_id, text
    return e


def _pack(obj):
    if isinstance(obj, Tensor):
        return _PackedTensor(np.ascontiguousarray(obj.detach().numpy()),
                             bool(obj.requires_grad and obj.grad_fn is None))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_pack(o) for o in obj))
    if type(obj) in (tuple, list):
        return type(obj)(_pack(o) for o in obj)
    if type(obj) is dict:
        return {k: _pack(v) for k, v in obj.items()}
    return obj


def _unpack(obj):
    if isinstance(obj, _PackedTensor):
        t = Tensor._make(obj.array)
        if obj.requires_grad:
            t.requires_grad_(True)
        return t
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_unpack(o) for o in obj))
    if type(obj) in (tuple, list):
        return type(obj)(_unpack(o) for o in obj)
    if type(obj) is dict:
        return {k: _unpack(v) for k, v in obj.items()}
    return obj


# ---- the worker -------------------------------------------------------------------------------
def _seed_worker(seed, worker_id):
    import fastgrad
    random.seed(seed)
    fastgrad.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(4))


def _worker_loop(worker_id, num_workers, seed, dataset, fetch_args, init_fn, index_q, result_q,
                 parent_pid):
    import fastgrad
    result_q.cancel_join_thread()          # exit promptly even if the caller stopped reading
    try:
        fastgrad.set_num_threads(1)
        _seed_worker(seed, worker_id)
        _data._worker_info = _data.WorkerInfo(worker_id, num_workers, seed, dataset)
        fetcher = _data._Fetcher(dataset, *fetch_args)
        if init_fn is not None:
            init_fn(worker_id)
        init_error = None
    except Exception as e:  # noqa: BLE001 - sent to the caller as the answer to every task
        init_error = _WorkerError(worker_id, e)
    epoch, exhausted = None, False
    while True:
        try:
            msg = index_q.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:          # the calling process is gone
                return
            continue
        except (EOFError, OSError):
            return
        if msg is None:
            return
        ep, task, idx = msg
        if init_error is not None:
            payload = init_error
        else:
            if ep != epoch:
                epoch, exhausted = ep, False
                if fetcher.iterable:
                    fetcher.it = None
            if exhausted:
                payload = _Exhausted
            else:
                try:
                    payload = _pack(fetcher.fetch(idx))
                except StopIteration:
                    exhausted, payload = True, _Exhausted
                except Exception as e:  # noqa: BLE001 - raised again in the caller
                    payload = _WorkerError(worker_id, e)
        # pickled here, not in the queue's feeder thread, so a batch that cannot be pickled
        # becomes an error the caller sees instead of an answer that never arrives
        try:
            blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - raised again in the caller
            blob = pickle.dumps(_WorkerError(worker_id, e), protocol=pickle.HIGHEST_PROTOCOL)
        result_q.put((ep, task, worker_id, blob))


# ---- the caller's side ------------------------------------------------------------------------
def _shutdown(workers, index_qs, result_q):
    """Stop the workers: ask each to return, then terminate those that do not."""
    for q in index_qs:
        try:
            q.put(None)
        except (OSError, ValueError):           # the queue is already closed
            pass
    deadline = time.monotonic() + _JOIN_S
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.is_alive():
            w.terminate()
            w.join(timeout=_JOIN_S)
    for q in (*index_qs, result_q):
        q.cancel_join_thread()
        q.close()


class MultiProcessIter:
    """An epoch (or, with ``persistent_workers``, every epoch) of a DataLoader with
    worker processes."""

    def __init__(self, loader) -> None:
        self._loader = loader
        ctx = resolve_context(loader.multiprocessing_context)
        nw = loader.num_workers
        self._n = nw
        self._iterable = isinstance(loader.dataset, _data.IterableDataset)
        self._prefetch = loader.prefetch_factor * nw
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        base_seed = loader._draw_base_seed()
        fetch_args = (loader.collate_fn, loader._auto_collation, loader.batch_size, loader.drop_last)
        self._result_q = ctx.Queue()
        self._index_qs, self._workers = [], []
        for i in range(nw):
            q = ctx.Queue()
            w = ctx.Process(target=_worker_loop, daemon=True,
                            args=(i, nw, base_seed + i, loader.dataset, fetch_args,
                                  loader.worker_init_fn, q, self._result_q, os.getpid()))
            self._index_qs.append(q)
            self._workers.append(w)
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._index_qs,
                                           self._result_q)
        try:
            for w in self._workers:
                w.start()
        except BaseException:
            self._finalizer()
            raise
        self._epoch = 0
        self._start_epoch()

    # -- epochs
    def _start_epoch(self):
        self._epoch += 1
        self._sent = self._rcvd = 0
        self._owner = {}                  # task -> worker, for tasks not yet yielded
        self._buffer = {}
        self._active = [True] * self._n
        self._next_worker = 0
        self._batches = None if self._iterable else iter(self._loader._index_batches())
        self._exhausted = False
        self._primed = False

    def _prime(self):
        # the first requests go out at the first next(), not at iter(): the sampler then draws
        # its indices at the same point as with num_workers=0, so code that uses the same
        # generator in between (an evaluation pass, dropout) sees the same random stream
        self._primed = True
        for _ in range(self._prefetch):
            self._dispatch()

    def reset(self):
        """Begin the next epoch on the same workers (``persistent_workers``)."""
        self._loader._draw_base_seed()
        self._start_epoch()

    def alive(self):
        return self._finalizer.alive and all(w.is_alive() for w in self._workers)

    def _dispatch(self):
        if self._exhausted:
            return
        for _ in range(self._n):
            w = self._next_worker
            self._next_worker = (w + 1) % self._n
            if self._active[w]:
                break
        else:
            self._exhausted = True
            return
        if self._batches is None:
            idx = None
        else:
            try:
                idx = next(self._batches)
            except StopIteration:
                self._exhausted = True
                return
        self._index_qs[w].put((self._epoch, self._sent, idx))
        self._owner[self._sent] = w
        self._sent += 1

    # -- iteration
    def __iter__(self):
        return self

    def __next__(self):
        if not self._primed:
            self._prime()
        while True:
            if not self._owner:
                self._end_epoch()
                raise StopIteration
            if self._in_order:
                while self._rcvd not in self._owner:
                    self._rcvd += 1
                task = self._rcvd
                payload = self._buffer.pop(task) if task in self._buffer else self._receive(task)
            else:
                if self._buffer:
                    task, payload = self._buffer.popitem()
                else:
                    task, payload = self._receive(None)
            worker = self._owner.pop(task)
            if payload is _Exhausted:
                self._active[worker] = False
                self._dispatch()
                continue
            self._dispatch()
            if isinstance(payload, _WorkerError):
                if not self._loader.persistent_workers:
                    self._finalizer()
                payload.reraise()
            return _unpack(payload)

    def _receive(self, want):
        """Read answers until task `want` (any task when None) arrives; buffer the others."""
        start = time.monotonic()
        while True:
            wait = _POLL_S
            if self._timeout:
                left = self._timeout - (time.monotonic() - start)
                if left <= 0:
                    self._finalizer()
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
                wait = min(wait, left)
            try:
                ep, task, _, blob = self._result_q.get(timeout=wait)
            except queue.Empty:
                dead = [w for w in self._workers if not w.is_alive()]
                if dead:
                    self._finalizer()
                    pids = ", ".join(str(w.pid) for w in dead)
                    codes = ", ".join(str(w.exitcode) for w in dead)
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly "
                                       f"(exit code(s) {codes})") from None
                continue
            if ep != self._epoch or task not in self._owner:
                continue
            payload = pickle.loads(blob)
            if want is None or task == want:
                return (task, payload) if want is None else payload
            self._buffer[task] = payload

    def _end_epoch(self):
        if not self._loader.persistent_workers:
            self._finalizer()

    def _shutdown(self):
        self._finalizer()


__all__ = ["MultiProcessIter", "resolve_context"]
