"""All-reduce bandwidth and the scaling of data-parallel training over MPI processes.

    python benchmarks/bench_allreduce.py [-n 2] [--quick] [--rounds 3] [--json out.json]

needs ``pip install "fastgrad[distributed]"``; the script starts its own MPI jobs
(``mpirun -n N --oversubscribe python bench_allreduce.py --worker ...``).

1. All-reduce (SUM, float32, in place) of 1e3 .. 1e7 elements: median time of
   ``fastgrad.distributed.all_reduce`` on a Tensor and, in the same processes, interleaved,
   of mpi4py's ``Allreduce`` on a bare NumPy array (the baseline: the ratio is fastgrad's
   overhead).  Bandwidth is algorithm bandwidth (bytes of the buffer / time) and bus
   bandwidth (x 2 (N-1)/N, what a ring all-reduce moves per process).
2. Training: an MLP (784-512-512-10, float32, SGD) at a fixed global batch; median time
   per step of 1 process (1 thread), of 1 process with N threads, and of N processes with
   DistributedDataParallel (1 thread each, global batch split between them), the latter
   also with its steps under ``no_sync()`` (same work, no all-reduce) interleaved, which
   splits its step time into compute and communication.  Scaling efficiency =
   t(1 process) / (N x t(N processes)).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]


# ---- workers (run under mpirun) ------------------------------------------------------------------
def worker_allreduce(reps):
    from mpi4py import MPI

    import fastgrad as fg
    import fastgrad.distributed as dist
    dist.init_process_group("mpi")
    comm = dist._group.comm
    rows = []
    for n in SIZES:
        k = max(5, min(reps, int(reps * 1e5 / n) + 5))
        t = fg.tensor(np.ones(n, dtype=np.float32))
        a = np.ones(n, dtype=np.float32)
        times = {"fastgrad": [], "mpi4py": []}
        for i in range(k + 2):
            for name in (("fastgrad", "mpi4py") if i % 2 == 0 else ("mpi4py", "fastgrad")):
                comm.Barrier()
                t0 = time.perf_counter()
                if name == "fastgrad":
                    dist.all_reduce(t)
                else:
                    comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
                dt = time.perf_counter() - t0
                # the slowest rank decides when the collective is done
                dt = comm.allreduce(dt, op=MPI.MAX)
                if i >= 2:
                    times[name].append(dt)
        rows.append({"n": n, "bytes": 4 * n, "fastgrad_s": statistics.median(times["fastgrad"]),
                     "mpi4py_s": statistics.median(times["mpi4py"])})
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps({"size": dist.get_world_size(), "rows": rows}), flush=True)


def _mlp():
    from fastgrad import nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def worker_train(global_batch, steps, threads, distributed, bucket_mb):
    import fastgrad as fg
    from fastgrad import optim
    from fastgrad.nn import functional as F
    fg.set_num_threads(threads)
    rank, size = 0, 1
    fg.manual_seed(0)
    model = _mlp()
    net = model
    if distributed:
        import fastgrad.distributed as dist
        from fastgrad.nn.parallel import DistributedDataParallel
        dist.init_process_group("mpi")
        rank, size = dist.get_rank(), dist.get_world_size()
        net = DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
    local = global_batch // size
    rng = np.random.default_rng(rank)
    X = fg.tensor(rng.standard_normal((local, 784)).astype(np.float32))
    y = fg.tensor(rng.integers(0, 10, local))
    opt = optim.SGD(model.parameters(), lr=0.01)
    import contextlib
    times, local_times = [], []
    for i in range(2 * steps + 10):
        # with DDP, alternate synchronised steps and steps under no_sync() (the same work
        # without the all-reduce), so both see the same machine load
        local = distributed and i % 2 == 1
        if distributed:
            dist.barrier()          # every step starts together ...
        t0 = time.perf_counter()
        with net.no_sync() if local else contextlib.nullcontext():
            loss = F.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
        opt.step()
        if distributed:
            dist.barrier()          # ... and counts until the slowest rank is done
        if i >= 10:
            (local_times if local else times).append(time.perf_counter() - t0)
        if not distributed and i >= steps + 5:
            break
    grad_bytes = sum(p._data.nbytes for p in model.parameters())
    if rank == 0:
        print("RESULT " + json.dumps({"size": size, "threads": threads, "step_s": statistics.median(times),
                                      "local_step_s": statistics.median(local_times) if local_times else None,
                                      "grad_bytes": grad_bytes}), flush=True)


# ---- driver ------------------------------------------------------------------------------------------
def _mpirun_cmd(n):
    here = os.path.dirname(sys.executable)
    exe = next((os.path.join(here, m) for m in ("mpirun", "mpiexec")
                if os.access(os.path.join(here, m), os.X_OK)), None)
    exe = exe or shutil.which("mpirun") or shutil.which("mpiexec")
    if exe is None:
        raise SystemExit('bench_allreduce: no mpirun found; pip install "fastgrad[distributed]"')
    v = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    flags = ["--oversubscribe"] if ("Open MPI" in v or "prte" in v.lower()) else []
    return [exe, "-n", str(n)] + flags


def _run(cmd):
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # a rank waiting in MPI yields its core: with more runnable processes than cores (other
    # jobs, or -n above the core count) busy-polling ranks otherwise take whole time slices
    env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not lines:
        raise SystemExit(f"bench_allreduce: {' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch", type=int, default=256, help="global batch of the training run")
    ap.add_argument("--rounds", type=int, default=3, help="turns of the three training runs")
    ap.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket_cap_mb (default 25)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    me = os.path.abspath(__file__)
    reps = 10 if args.quick else 40
    steps = args.steps or (10 if args.quick else 40)
    if args.worker == "allreduce":
        return worker_allreduce(reps)
    if args.worker in ("train", "train-ddp"):
        return worker_train(args.batch, steps, args.threads, args.worker == "train-ddp", args.bucket_mb)

    n = args.n
    mpi = _mpirun_cmd(n)
    ar = _run(mpi + [sys.executable, me, "--worker", "allreduce"] + (["--quick"] if args.quick else []))
    bus = 2 * (n - 1) / n
    print(f"all-reduce, float32 SUM in place, {n} processes on one machine (medians)")
    print(f"{'elements':>10} {'fastgrad':>11} {'mpi4py':>11} {'ratio':>6} {'algbw GB/s':>11} {'busbw GB/s':>11}")
    for r in ar["rows"]:
        bw = r["bytes"] / r["fastgrad_s"] / 1e9
        print(f"{r['n']:>10.0e} {r['fastgrad_s'] * 1e6:>9.1f}us {r['mpi4py_s'] * 1e6:>9.1f}us "
              f"{r['fastgrad_s'] / r['mpi4py_s']:>6.2f} {bw:>11.2f} {bw * bus:>11.2f}")
    common = ["--batch", str(args.batch), "--steps", str(steps), "--bucket-mb", str(args.bucket_mb)]
    # the three runs take turns, --rounds times, so machine noise hits them alike; each
    # figure is the median over the rounds of a run's median step
    runs = {"one": [], "one_t": [], "ddp": []}
    for _ in range(args.rounds):
        runs["one"].append(_run([sys.executable, me, "--worker", "train", "--threads", "1"] + common))
        runs["one_t"].append(_run([sys.executable, me, "--worker", "train", "--threads", str(n)] + common))
        runs["ddp"].append(_run(mpi + [sys.executable, me, "--worker", "train-ddp", "--threads", "1"]
                                + common))

    def med(rs):
        out = dict(rs[0])
        for k in ("step_s", "local_step_s"):
            if out.get(k) is not None:
                out[k] = statistics.median(r[k] for r in rs)
        return out
    one, one_t, ddp = med(runs["one"]), med(runs["one_t"]), med(runs["ddp"])
    eff = one["step_s"] / (n * ddp["step_s"])
    print(f"\ntraining step, MLP 784-512-512-10, global batch {args.batch}, "
          f"{ddp['grad_bytes'] / 1e6:.2f} MB of gradients, DDP buckets of {args.bucket_mb:g} MB (medians)")
    print(f"  1 process, 1 thread       {one['step_s'] * 1e3:8.2f} ms")
    print(f"  1 process, {n} threads      {one_t['step_s'] * 1e3:8.2f} ms   "
          f"speed-up {one['step_s'] / one_t['step_s']:.2f}x")
    print(f"  {n} processes (DDP), 1 thread each {ddp['step_s'] * 1e3:8.2f} ms   speed-up "
          f"{one['step_s'] / ddp['step_s']:.2f}x, scaling efficiency {eff:.0%}")
    print(f"    of which without the all-reduce (no_sync) {ddp['local_step_s'] * 1e3:8.2f} ms, "
          f"so the gradient all-reduce costs {(ddp['step_s'] - ddp['local_step_s']) * 1e3:.2f} ms a step")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"allreduce": ar, "train": {"one": one, "one_threads": one_t, "ddp": ddp,
                                                  "efficiency": eff}}, f, indent=1)


if __name__ == "__main__":
    main()
