"""The small-CNN training step (batch 64, 1 thread) with fastgrad's block cache for large
kernel results on and off: median time per step and minor page faults per step.

    python benchmarks/memory_report.py            # runs both settings, each in its own process
"""
import os
import resource
import statistics
import subprocess
import sys


def _child():
    import time
    import fastgrad as fg
    from fastgrad.bench import workloads as W
    fg.set_num_threads(1)
    step = W.fastgrad_cnn_step("sgd")
    for _ in range(5):
        step()
    times = []
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 40
    print(f"{statistics.median(times) * 1e3:.2f} ms per step, {faults:.0f} page faults per step")


def main():
    if "--child" in sys.argv:
        _child()
        return
    for label, env in (("cache on (default)", {}), ("cache off (FASTGRAD_MEMORY_CACHE=0)",
                                                    {"FASTGRAD_MEMORY_CACHE": "0"})):
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], capture_output=True,
                           text=True, check=True, env={**os.environ, **env})
        print(f"{label:38s} {r.stdout.strip()}")


if __name__ == "__main__":
    main()
