"""Multi-process data-parallel training: the process group as ``torchrun`` describes it.

``torchrun --nproc_per_node=N -m graphkd distill ...`` starts ``N`` processes with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set; :func:`setup_distributed` joins them
into one process group (NCCL on CUDA, gloo on CPU). Without those variables it returns a
single-process context and starts nothing.

Example
-------
>>> import torch
>>> context = setup_distributed(torch.device("cpu"))
>>> context.world_size, context.is_main
(1, True)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    """Where this process stands among the training processes.

    Parameters
    ----------
    rank : int
        This process's index, ``0 .. world_size - 1``.
    world_size : int
        Number of processes.
    device : torch.device
        This process's device (``cuda:LOCAL_RANK`` on GPUs).
    owns_group : bool
        Whether :func:`setup_distributed` started the process group (and
        :meth:`close` should end it).
    """

    rank: int
    world_size: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that logs and writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    def all_gather(self, value: Any) -> List[Any]:
        """``value`` from every rank, by rank (a one-element list for one process)."""
        if not self.active:
            return [value]
        gathered: List[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks (itself for one process)."""
        if self.active:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Average the gradients of ``module``'s trainable parameters over the ranks, in
        place, in one all-reduce.

        A parameter a rank did not use in its step (gradient ``None``) counts as a zero
        gradient there, as under ``DistributedDataParallel(find_unused_parameters=True)``;
        one no rank used keeps ``None``, so the optimiser leaves it alone.
        """
        if not self.active:
            return
        parameters = [p for p in module.parameters() if p.requires_grad]
        if not parameters:
            return
        reference = parameters[0]
        used = torch.tensor(
            [float(p.grad is not None) for p in parameters], device=reference.device
        )
        flat = torch.cat(
            [
                (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                for p in parameters
            ]
        )
        dist.all_reduce(used)
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for parameter, anyone in zip(parameters, used.tolist()):
            size = parameter.numel()
            if anyone:
                parameter.grad = flat[offset : offset + size].view_as(parameter).clone()
            offset += size

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters of ``module`` (buffers stay each rank's own)."""
        if not self.active:
            return
        with torch.no_grad():
            for parameter in module.parameters():
                dist.broadcast(parameter.data, 0)

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """End the process group if this context started it (:func:`end_process_group`)."""
        if self.owns_group and dist.is_initialized():
            end_process_group()


def end_process_group() -> None:
    """End the default process group, on every rank at once.

    Before torch 2.8 a gloo process group joins its worker threads while holding the
    GIL, and a worker that is still releasing a finished collective's tensors (after the
    last barrier returned) waits for the GIL forever: the process hangs on exit (fixed
    upstream by releasing the GIL in the group's destructor). There every rank first
    meets at a barrier, then pauses without the GIL for :data:`GLOO_RELEASE_PAUSE_S` so
    those workers finish, then ends the group. Scripts that start a group of their own
    end it with this function.

    Release every ``DistributedDataParallel`` module (and the outputs and losses that
    reference it) first: one that outlives its group is destroyed at interpreter exit,
    after the group, and on gloo that aborts the process now and then ("terminate called
    without an active exception", seen on torch 2.14). The trainer's wrapped student is
    gone by the time it ends the group.
    """
    if dist.get_backend() == "gloo" and torch.__version__ < (2, 8):
        dist.barrier()
        time.sleep(GLOO_RELEASE_PAUSE_S)
    dist.destroy_process_group()


GLOO_RELEASE_PAUSE_S = 0.25
"""Seconds :func:`end_process_group` waits, GIL released, before ending a gloo group on
torch < 2.8."""


def setup_distributed(device: torch.device) -> DistributedContext:
    """Join the ``torchrun`` process group, or describe a single process.

    Parameters
    ----------
    device : torch.device
        The configured device; on CUDA each process takes ``cuda:LOCAL_RANK``.

    Returns
    -------
    DistributedContext
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(0, 1, device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, device, owns)
