"""The seed company's story (``ledger demo``) and the synthetic workload for benchmarks and
tests: examples built on the library, not part of it.
"""
