"""The one statistic the side-by-side benchmarks report beside a median ratio: a 95 %
bootstrap interval of that median, resampling the pairs (or rounds) it was taken over.

Why an interval: on a shared 2-core machine a single pair of timings moves by 10-40 %,
so a median of 1.02 says nothing until its interval says whether 1.0 is still in it.
"""
import random
import statistics

__all__ = ["bootstrap_median"]


def bootstrap_median(ratios, rounds: int = 2000, seed: int = 0):
    """``(low, high)``: a 95 % interval of the median of ``ratios``, resampling them."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(rounds))
    return medians[int(0.025 * rounds)], medians[int(0.975 * rounds) - 1]
