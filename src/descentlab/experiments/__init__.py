"""Experiments: what to run (specs, presets, sweeps) and where to run it (executors)."""
