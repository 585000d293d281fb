"""Helpers shared by the tests and benchmarks: real data paths, ground-truth moves, MRML nodes, the CLI."""
