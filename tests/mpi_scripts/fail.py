"""Run under mpirun by tests/test_distributed.py: rank 1 raises while rank 0 waits in a
collective; the whole job must end (non-zero exit) instead of hanging."""
import sys

import fastgrad as fg
import fastgrad.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("rank 1 fails on purpose")
t = fg.ones(3)
dist.all_reduce(t)          # rank 0 waits here for a partner that never comes
dist.barrier()
print("UNREACHABLE", flush=True)
sys.exit(0)
