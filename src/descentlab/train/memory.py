"""Peak memory of a run: CUDA's allocator statistics on a GPU, the process's peak resident set size on a CPU.

On a CPU, torch keeps no allocator statistics, so a run's peak is read from the kernel: writing ``5`` to
``/proc/self/clear_refs`` resets the process's high-water mark (``VmHWM`` in ``/proc/self/status``) to its
current resident size. The figure therefore includes everything the process holds (Python, torch, the dataset:
a baseline of a few hundred MB), and what differs between runs — activations for the batch size, optimizer
state — shows on top of it. Before the reset, glibc's ``malloc_trim`` hands freed heap back to the kernel, so an
earlier run's retained memory does not hide this run's; even so, a process that has already held much more
(a long test session) can serve a run from memory it still keeps, and the figure is then a lower bound. Linux
only; elsewhere (or where ``/proc`` is not writable) it is ``None``.
"""

from __future__ import annotations

import torch

_STATUS, _CLEAR = "/proc/self/status", "/proc/self/clear_refs"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    _trim_heap()
    try:
        with open(_CLEAR, "w") as f:
            f.write("5")
    except OSError:
        pass


def _trim_heap() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def peak_bytes(device: torch.device) -> int | None:
    """The peak since :func:`reset_peak`, in bytes; ``None`` where it cannot be measured."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
