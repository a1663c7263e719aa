"""Helpers shared by the benchmark scripts (a package, so ``make bench``'s ``benchmarks/*.py`` skips it)."""
