"""Benchmarks of the running system (``make bench``); results as JSON under ``bench/results/``."""
