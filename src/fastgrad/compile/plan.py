"""Plans of fastgrad.compile: from a finished trace, the arena layout of the
intermediates, the C plan (fastgrad._C._kernels.Plan) and the guards a replay checks;
the second-call check against eager execution; the replay."""
import copy

import numpy as np

from fastgrad._C import _kernels as _K
from fastgrad._tensor import Tensor
from fastgrad.compile import guards as _guards
from fastgrad.compile._common import (_ALIGN, _RETRACE, _call_eager, _make, _ptr, _root,
                                      _Unsupported)


def _layout_arena(bufs, nsteps):
    """Offsets for the intermediates: greedy by size, an offset is free for a buffer when no
    placed buffer overlapping it in memory is live at an overlapping time."""
    placed = []
    total = 0
    for b in sorted(bufs, key=lambda b: (-b.nbytes, b.first)):
        last = nsteps if b.persist else b.last
        size = (b.nbytes + _ALIGN - 1) // _ALIGN * _ALIGN or _ALIGN
        conflicts = sorted((o.offset, o.offset + o.size_) for o in placed
                           if not (o.last_ < b.first or last < o.first))
        off = 0
        for lo, hi in conflicts:
            if off + size <= lo:
                break
            off = max(off, hi)
        b.offset = off
        b.size_ = size
        b.last_ = last
        placed.append(b)
        total = max(total, off + size)
    return total


class _Plan:
    """One traced signature: the C plan plus what a replay must check and restore."""

    def __init__(self, tr, out_struct, out_refs, arg_inputs):
        self.name = tr.fname
        bufs = list(tr.bufs.values())
        nsteps = len(tr.steps)
        inter = [b for b in bufs if b.kind == "inter"]
        total = _layout_arena(inter, nsteps)
        raw = np.empty(total + _ALIGN, np.uint8)
        start = (-_ptr(raw)) % _ALIGN
        self.arena = raw[start:start + total] if total else raw[:0]
        bases = [self.arena]
        inputs = []
        for b in bufs:
            if b.kind == "inter":
                b.base = 0
            elif b.kind == "input":
                b.base = len(bases)
                bases.append(None)
            else:
                b.base = len(bases)
                bases.append(b.arr)
        # input slots in argument order
        slot_of = {id(_root(b.arr)): b for b in bufs if b.kind == "input"}
        self.input_pos = []
        for pos, t in arg_inputs:
            b = slot_of.get(id(_root(t._data)))
            if b is None:
                continue          # an input no kernel read
            if t._data is not b.arr:
                raise _Unsupported("an input tensor is a view into a larger array")
            inputs.append((b.base, t._data.dtype, t._data.shape))
            self.input_pos.append(pos)

        def conv(ref):
            if ref is None:
                return None
            b, off = ref
            return (b.base, (b.offset if b.kind == "inter" else 0) + off)
        steps = []
        for d in tr.steps:
            d = dict(d)
            for key in ("ins", "outs"):
                if key in d:
                    d[key] = [conv(r) for r in d[key]]
            if "grads" in d:
                d["grads"] = [conv(r) for r in d["grads"]]
            steps.append(d)
        self.plan = _K.Plan(bases, inputs, steps, list(tr.names))
        self.nsteps = nsteps
        self.arena_bytes = total
        self.naive_bytes = sum(b.nbytes for b in inter)

        def view(ref, like):
            b, off = ref
            if b.kind == "inter":
                return np.ndarray(like.shape, like.dtype, self.arena, b.offset + off, like.strides)
            return like
        # outputs
        self.out_struct = out_struct
        self.outs = [(view(ref, arr), t) for ref, arr, t in out_refs]
        # grads: final .grad of every touched tensor
        self.grads = []
        self.grad_guards = []
        for t, entry, how in tr.touched.values():
            g = t.grad
            if g is None:
                final = None
            else:
                gb = tr.bufs.get(id(_root(g._data)))
                if gb is None:
                    raise _Unsupported(".grad set outside the traced kernels")
                final = g
                if gb.kind == "inter":
                    final = _make(view((gb, _ptr(g._data) - _ptr(gb.arr)), g._data))
            self.grads.append((t, final))
            if how == "cleared" and id(_root(entry._data)) not in tr.bufs:
                continue                # set to None by the function, never read: no guard
            if how != "none":
                # zero_grad(set_to_none=False) first: a .grad left by the previous replay
                # gives the same values (0 + g); otherwise the entry must be as traced
                self.grad_guards.append((t, entry, final if how in ("zero", "cleared") else None))
        # guards
        self.modules = [(m, m.training) for m in tr.modules.values()]
        ext = {}
        for m in tr.modules.values():
            for p in list(m._parameters.values()) + list(m._buffers.values()):
                if p is not None:
                    ext[id(p)] = (p, p._data)
        for opt, gi, entry, layout, a, si in tr.optims:
            for p in entry[1]:
                ext[id(p)] = (p, p._data)
        for b in bufs:                  # tensors whose arrays the plan reads in place
            if b.kind == "ext":
                for t, arr in tr.owners.get(id(b.arr), ()):
                    ext[id(t)] = (t, arr)
        self.ext = list(ext.values())
        # per optimizer step: [optimizer, group index, plans entry, layout, kernel
        # arguments, step index, the group they were computed from (see _plain_copy;
        # None: recompute them at the next replay)]
        self.optims = [list(o) + [None] for o in tr.optims]
        # what a replay may write besides its arena: checked against eager on the 2nd call
        mutable = {id(b.arr): b.arr for b in bufs if b.kind == "ext" and b.arr.flags.writeable}
        for k, a in tr.pre.items():     # everything the call could reach when it started
            if a.flags.writeable:
                mutable[k] = a
        for opt, gi, entry, layout, a, si in tr.optims:
            for p in entry[1]:
                mutable[id(_root(p._data))] = _root(p._data)
                for v in opt.state.get(p, {}).values():
                    if isinstance(v, Tensor):
                        mutable[id(_root(v._data))] = _root(v._data)
        self.mutable = list(mutable.values())
        # scheduler steps: replayed before the plan (stepped before any optimizer step) or
        # after it (after the last one)
        self.pre_scheds, self.post_scheds = [], []
        for sched, n_before in tr.scheds:
            if n_before == 0:
                self.pre_scheds.append(sched)
            elif n_before == len(tr.optims):
                self.post_scheds.append(sched)
            else:
                raise _Unsupported(f"{type(sched).__name__}.step between two optimizer steps")
        # dropout steps draw from the global generator's current bit generator (manual_seed
        # replaces it): the replay points the plan at it
        self.rng_of = tr.rng
        self.rng_gen = None if tr.rng is None else tr.rng.rng
        self.verified = False
        self.guard = _guards.build(tr, self)

    def verify(self, fn, args, kwargs):
        """First replay: run the plan, then restore the state and run fn eagerly; both must
        agree bit for bit (parameters, optimizer state, gradients, outputs).  A mismatch
        means the function does work the kernels do not see (NumPy on ._data, values read
        into Python): returns (False, eager result, what differed).  Else (True, result)."""
        saved = [a.copy() for a in self.mutable]
        sched_state = self._save_scheds()
        grads0 = [t.grad for t, final in self.grads]
        gvals0 = [None if g is None else g._data.copy() for g in grads0]
        rng0 = None if self.rng_of is None else self.rng_of.rng.bit_generator.state
        r = self.replay(args)
        if r is _RETRACE:
            return True, r, None
        rng1 = None if self.rng_of is None else self.rng_of.rng.bit_generator.state
        if rng0 is not None:
            self.rng_of.rng.bit_generator.state = rng0
        after = [a.copy() for a in self.mutable]
        gafter = [None if final is None else final._data.copy() for t, final in self.grads]
        leaves = []
        _flatten(r, leaves)
        for a, v in zip(self.mutable, saved):
            np.copyto(a, v)
        _restore_scheds(sched_state)
        for (t, final), g, v in zip(self.grads, grads0, gvals0):
            t.grad = g
            if g is not None:
                np.copyto(g._data, v)
        re = _call_eager(fn, args, kwargs)
        eleaves = []
        try:
            _flatten(re, eleaves)
        except _Unsupported:
            return False, re, "the returned values"
        self.verified = True
        bad = None
        if len(eleaves) != len(leaves) or any(
                a._data.shape != b._data.shape or a._data.tobytes() != b._data.tobytes()
                for a, b in zip(leaves, eleaves)):
            bad = "the returned tensors"
        elif any(not np.array_equal(a, b, equal_nan=True) or a.tobytes() != b.tobytes()
                 for a, b in zip(self.mutable, after)):
            bad = "parameters, buffers or optimizer state"
        elif rng0 is not None and self.rng_of.rng.bit_generator.state != rng1:
            bad = "the random generator's state"
        else:
            for (t, final), ga in zip(self.grads, gafter):
                g = t.grad
                if (g is None) != (ga is None) or (
                        ga is not None and g._data.tobytes() != ga.tobytes()):
                    bad = "gradients"
                    break
        if bad is not None:
            return False, re, bad
        for t, final in self.grads:       # the same values; keep the plan's tensors
            t.grad = final
        return True, r, None

    def _save_scheds(self):
        scheds = self.pre_scheds + self.post_scheds
        if not scheds:
            return None
        opts = {id(s.optimizer): s.optimizer for s in scheds}
        return ([(s, {k: copy.deepcopy(v) for k, v in vars(s).items() if k != "optimizer"})
                 for s in scheds],
                [(g, {k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
                 for o in opts.values() for g in o.param_groups])

    def replay(self, args):
        if not self.guard():
            return _RETRACE
        plan = self.plan
        undo = None
        if self.pre_scheds:
            undo = self._save_scheds()
            for s in self.pre_scheds:
                s.step()
        for o in self.optims:           # hyperparameters (lr, ...) read at every call
            opt, gi, entry, layout, a, si, seen = o
            group = opt.param_groups[gi]
            if seen is not None and type(group) is dict and _K.values_are(group, seen):
                continue                # the same values as when `a` was computed
            na = opt._args(group)
            if na != a:
                if opt._layout(group) != layout:        # momentum on/off, amsgrad, ...
                    _restore_scheds(undo)
                    return _RETRACE
                plan.set_hyper(si, na)
                o[4] = na
            o[6] = _plain_copy(group)
        if self.rng_of is not None and self.rng_of.rng is not self.rng_gen:
            self.rng_gen = self.rng_of.rng
            plan.set_rng(self.rng_gen.bit_generator)
        plan.run(tuple([args[i]._data for i in self.input_pos]))
        for t, final in self.grads:
            t.grad = final
        for s in self.post_scheds:
            s.step()
        outs = [t if arr is None else _make(arr.copy()) for arr, t in self.outs]
        return _rebuild(self.out_struct, outs)



_PLAIN = (int, float, str, bool, type(None))


def _plain_copy(group):
    """The values of an optimizer group's dict (a tuple), when every value but its
    parameter list is an immutable Python value (numbers, strings, None, tuples of
    them): while the group holds these same objects, it gives the same kernel arguments
    (fastgrad._C's values_are: identity tests in C, cheaper than recomputing them).  None otherwise (a tensor
    or a list value may change in place)."""
    for k, v in group.items():
        if k == "params" or type(v) in _PLAIN:
            continue
        if type(v) is tuple and all(type(x) in _PLAIN for x in v):
            continue
        return None
    return tuple(group.values())


def _restore_scheds(saved):
    """Put schedulers and their optimizers' hyperparameters back as _save_scheds found
    them (None: nothing saved)."""
    if saved is None:
        return
    scheds, groups = saved
    for s, d in scheds:
        vars(s).update(d)
    for g, d in groups:
        g.update(d)


class _EagerVariant:
    """A signature that runs eagerly (its trace was unsupported), while the modules it
    ran are in the training modes they had then."""

    def __init__(self, modules, reason):
        self.modules = [(m, m.training) for m in modules]
        self.reason = reason

    def matches(self):
        for m, training in self.modules:
            if m.training != training:
                return False
        return True


def _flatten(obj, leaves):
    """Structure of fn's return value with tensors replaced by leaf indices."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T", len(leaves) - 1)
    if isinstance(obj, (tuple, list)):
        return (type(obj), [_flatten(o, leaves) for o in obj])
    if isinstance(obj, dict):
        return (dict, [(k, _flatten(v, leaves)) for k, v in obj.items()])
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return ("C", obj)
    raise _Unsupported(f"returning a {type(obj).__name__}")


def _rebuild(s, outs):
    tag, v = s
    if tag == "T":
        return outs[v]
    if tag == "C":
        return v
    if tag is dict:
        return {k: _rebuild(x, outs) for k, x in v}
    return tag(_rebuild(x, outs) for x in v)
