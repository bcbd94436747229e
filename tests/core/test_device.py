"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from rlgen.device import resolve_precision, select_device, set_threads
from rlgen.errors import ConfigError


def test_auto_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")


def test_unavailable_or_unknown_devices_are_clear_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available; use --device cpu or auto"):
        select_device("cuda")
    with pytest.raises(ConfigError, match="choices: auto, cpu, cuda, mps"):
        select_device("tpu")


def test_precision_choices():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("fp16", cpu) is torch.float16
    with pytest.raises(ConfigError, match="choices: auto, fp32, bf16, fp16"):
        resolve_precision("fp8", cpu)


def test_threads():
    before = torch.get_num_threads()
    try:
        set_threads(1, torch.device("cpu"))
        assert torch.get_num_threads() == 1
        with pytest.raises(ConfigError):
            set_threads(-1, torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
