"""Benchmarks: each prints xlm-hf's number beside a baseline measured in the same run."""
