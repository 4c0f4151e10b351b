"""The step timing the PyTorch benchmark scripts share: each step timed alone, the median kept."""
import statistics
import time


def timed_steps(step, steps):
    """Runs `step` `steps` times; returns (median ms, every step's ms)."""
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times
