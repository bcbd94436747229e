"""Data-parallel training under torchrun, for the algorithms that learn from a dataset
(classifier, gan, cgan, vae, cvae, pix2pix).

    torchrun --standalone --nproc_per_node=2 -m rlgen train cgan --data mnist5k
    rlgen train cgan --data mnist5k --nproc 2        # the same: rlgen starts torchrun
    torchrun --nnodes=2 --node-rank=R --nproc-per-node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HEAD:29500 -m rlgen train cgan --data mnist5k   # on each of two nodes

Every rank builds the same algorithm; `batch_size` stays the global batch and each rank
draws its contiguous share of every global batch (`BatchIterator(shard=...)`), so N ranks
step on the batch one process would. Gradients are averaged in `Trainer.optimize`, the
one seam every algorithm steps through: one flattened all-reduce per optimizer step (what
DistributedDataParallel's buckets do, without overlapping backward). The module wrapper
is not used because its hooks only fire for forwards through the wrapper, and the lab's
models also run through their own methods (a discriminator's `embed`, an encoder's
`posterior`) and run twice per loss (real and fake images). Rank 0 alone writes the run
directory, metrics, W&B, checkpoints and evaluates; the other ranks follow its decisions
to stop (time budget, early stopping) each step. Batch norm: SyncBatchNorm on CUDA; on
CPU (gloo) PyTorch has no SyncBatchNorm, so each rank normalizes with its own share's
statistics and rank 0's running statistics are saved. Gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from rlgen.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel group (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def split(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch of indices."""
        if self.world == 1:
            return index
        if len(index) % self.world:
            raise ConfigError(
                f"a global batch of {len(index)} does not split over {self.world} processes; "
                f"set batch_size to a multiple of {self.world}"
            )
        return index.tensor_split(self.world)[self.rank]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "auto") -> Shard:
    """Join torchrun's process group (once; gloo on CPU, NCCL on CUDA), or Shard() alone."""
    if not launched_by_torchrun():
        return Shard()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = device != "cpu" and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    return Shard(dist.get_rank(), dist.get_world_size(), local_rank)


_RUNS_IN_PROGRESS = [0]


@contextmanager
def run_shard(device: str = "auto") -> Iterator[Shard]:
    """The shard of the run being started: the torchrun group's for the outermost run of
    the process, Shard() for runs nested in it (rank 0 training a reference classifier
    for its metrics must not wait for ranks that never join that run)."""
    outermost = _RUNS_IN_PROGRESS[0] == 0
    shard = init(device) if outermost else Shard()
    _RUNS_IN_PROGRESS[0] += 1
    try:
        yield shard
    finally:
        _RUNS_IN_PROGRESS[0] -= 1
    if outermost and shard.world > 1:
        leave_group()


def leave_group() -> None:
    """Leave the group once every rank has finished its run. Without the barrier a rank
    that finishes first tears gloo down while rank 0 still writes the run, and the gloo
    threads can abort the process at exit ("terminate called without an active
    exception"). Only after a normal run: a failed one may have lost its peers, and a
    barrier would wait for them (the atexit hook and torchrun end that case)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def current() -> Shard:
    """The group this process joined (Shard() outside torchrun). After the run has left
    the group, torchrun's numbering still says which process is rank 0."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size(), local_rank)
    if launched_by_torchrun():
        return Shard(int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]), local_rank)
    return Shard()


def average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    """Replace every gradient by its mean over the ranks, in one all-reduce."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for grad, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        grad.copy_(part.view_as(grad))


def all_true(flag: bool, device: torch.device) -> bool:
    """Whether `flag` holds on every rank (one tiny all-reduce)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def rank0_decides(flags: list[bool], device: torch.device) -> list[bool]:
    """Rank 0's values of `flags` on every rank."""
    value = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.broadcast(value, 0)
    return [bool(v > 0.5) for v in value.tolist()]


def gather_to_rank0(obj: Any) -> list[Any] | None:
    """Every rank's `obj`, as a list on rank 0 (None on the others)."""
    shard = current()
    out: list[Any] | None = [None] * shard.world if shard.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_module(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank."""
    for tensor in module.state_dict().values():
        if isinstance(tensor, torch.Tensor):
            dist.broadcast(tensor, 0)
