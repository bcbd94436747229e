"""Device, precision and thread selection."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rlgen.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def select_device(name: str = "auto") -> torch.device:
    """Resolve 'auto' to CUDA, then MPS, then CPU; check an explicit choice is available."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device '{name}'; choices: {', '.join(DEVICES)} or cuda:N")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' was asked for but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for `precision` on `device`, or None for full fp32.

    'auto' is bf16 on CUDA devices that support it and fp32 elsewhere: CPU autocast is
    correct but rarely faster for the small models this lab trains on CPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision '{precision}'; choices: {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware: CUDA with bf16 support, or an x86 CPU with
    AVX512-BF16 or AMX (oneDNN emulates bf16 elsewhere, which is slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Mixed-precision context for `dtype`, a no-op for fp32."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def set_threads(threads: int, device: torch.device) -> None:
    """Set torch's intra-op threads on CPU (0 keeps torch's default).

    One thread per process is much faster than the default on 2 busy cores.
    """
    if threads < 0:
        raise ConfigError(f"threads must be >= 0 (0 = torch default), got {threads}")
    if threads > 0 and device.type == "cpu":
        torch.set_num_threads(threads)


@contextlib.contextmanager
def flush_denormals(enabled: bool) -> Iterator[None]:
    """Within the block, CPU float math flushes denormal numbers (below ~1.2e-38 in fp32)
    to zero; torch's default, off, is back afterwards. An optimizer state that decays
    towards zero (Adam's moments of dead ReLU units) passes through the denormal range,
    where each operation costs ~100x a normal one: a 256x256 DQN phase was ~25% slower."""
    if not enabled or not torch.set_flush_denormal(True):  # False: the CPU cannot flush
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
