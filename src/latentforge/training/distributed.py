"""One run in several processes: torch.distributed, launched by torchrun.

torchrun starts one process per rank and gives each RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in its environment; `World.from_env()` reads them (a plain
`python`/`latentforge` process is the one-rank world, which changes nothing). `setup`
joins the process group: gloo on CPU, NCCL on CUDA (each rank on cuda:LOCAL_RANK), and
leaves it when the process exits: with the other ranks (a barrier), or at once when this
rank stops on an error (`failing`).

What the engine does with a world of N ranks (training/engine.py):
- Every rank draws the same seeded permutation of the training split; each global batch
  (train.batch_size, which N must divide) is cut into N equal consecutive slices, one per
  rank (`local_slice`); an epoch's last, smaller batch is cut as evenly as it goes, and
  a batch smaller than N is skipped (`share`).
- Gradients are averaged in the one optimizer-step path (training/step.py) right after
  `backward`, before clipping and the step: each rank's gradient, weighted by its share of
  the global batch, is summed over the ranks by one all_reduce per optimizer step
  (`average_gradients`). This is what DistributedDataParallel's reducer computes; it is
  done in the step hook instead of by wrapping the networks because the models' steps run
  several backward passes per batch (a GAN's D and G phases, R1 and gradient penalties
  through `autograd.grad`, D frozen in G's phase), which DDP's forward-bound reducer does
  not support. NVIDIA's StyleGAN2-ADA training loop averages its gradients the same way.
- Rank 0's weights and buffers are broadcast to every rank at the start, and its buffers
  (batch-norm statistics, counters) after every step, as DDP does (`broadcast`);
  ranks > 0 reseed torch's global RNG (`seed_rank`) so their noise, dropout and
  GAN codings differ from rank 0's, which keeps the one-process stream.
- Validation and the epoch's train losses are means over all ranks (`mean_over_ranks`).
- Only rank 0 writes the run directory; every rank resumes from it, each with its own
  RNG state (`gather_states` / the checkpoint's per-rank states).
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from latentforge.errors import ConfigError

ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class World:
    """This process's rank among `size` processes (the one-process world: 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env=None) -> "World":
        """The world torchrun describes in `env` (default os.environ); one process when
        WORLD_SIZE is unset. ConfigError for values that are not a consistent world."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            rank, local, size = (int(env.get(k, "0")) for k in ENV)
        except ValueError:
            raise ConfigError(f"RANK, LOCAL_RANK and WORLD_SIZE must be integers (as "
                              f"torchrun sets them), got {[env.get(k) for k in ENV]}") from None
        if not (size >= 1 and 0 <= rank < size and local >= 0):
            raise ConfigError(f"Inconsistent torchrun environment: RANK={rank}, "
                              f"LOCAL_RANK={local}, WORLD_SIZE={size}.")
        return cls(rank, size, local)


def setup(world: World, device: torch.device) -> torch.device:
    """Join the process group (gloo on CPU, NCCL on CUDA; once per process) and return the
    device this rank trains on (cuda:LOCAL_RANK for CUDA)."""
    if not world.distributed:
        return device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=world.rank, world_size=world.size)
        # Left alive at exit, the group's threads abort the process ("terminate called
        # without an active exception") when a rank finishes before the others.
        atexit.register(_leave)
    return device


_failing = False


def failing() -> None:
    """This rank stops on an error: at exit it leaves the process group without waiting
    for the others, which may be inside another collective that a barrier would not
    match (they see the connection close, and torchrun stops them)."""
    global _failing
    _failing = True


def _leave() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if not _failing:
        try:
            dist.barrier()  # every rank leaves together: no peer vanishes mid-connection
        except RuntimeError:  # a peer already left on an error; its own message says why
            pass
    dist.destroy_process_group()


def check_batch(batch_size: int, world: World, what: str = "train.batch_size") -> None:
    """ConfigError unless the global batch splits evenly over the ranks."""
    if batch_size % world.size:
        raise ConfigError(f"{what} = {batch_size} is the global batch and must split "
                          f"evenly over the {world.size} processes; use a multiple of "
                          f"{world.size} (e.g. {max(1, batch_size // world.size) * world.size}).")


def local_slice(idx: Tensor, world: World) -> Tensor:
    """This rank's consecutive part of a global batch's indices (as even as it goes)."""
    if not world.distributed:
        return idx
    return idx.tensor_split(world.size)[world.rank]


def share(idx: Tensor, world: World) -> float:
    """This rank's share of the global batch `idx` (the weight of its gradients); 0 when
    the batch is smaller than the world (every rank skips it)."""
    if len(idx) < world.size:
        return 0.0
    return len(local_slice(idx, world)) / len(idx)


@torch.no_grad()
def average_gradients(params, weight: float) -> None:
    """Replace every parameter's gradient by the sum over the ranks of weight * gradient
    (weight: this rank's share of the batch), in one all_reduce. Parameters without a
    gradient take part with zeros and get none back."""
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads]) * weight
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        if p.grad is not None:
            p.grad.copy_(flat[offset:offset + n].view_as(g))
        offset += n


@torch.no_grad()
def broadcast(module: torch.nn.Module, parameters: bool = True) -> None:
    """Every rank takes rank 0's buffers, and parameters unless `parameters` is False."""
    import torch.distributed as dist

    for t in [*(module.parameters() if parameters else ()), *module.buffers()]:
        dist.broadcast(t.data, 0)


def seed_rank(seed: int, world: World) -> None:
    """Give ranks > 0 their own global RNG stream (rank 0 keeps the one-process one)."""
    if world.rank:
        torch.manual_seed((seed + 1_000_003 * world.rank) % (2 ** 63))


def mean_over_ranks(sums: dict[str, float], count: float, world: World) -> dict[str, float]:
    """Means over every rank of quantities given as this rank's weighted `sums` over
    `count` items: sum over ranks of sums / sum over ranks of counts."""
    if not world.distributed:
        return {k: v / count for k, v in sums.items()} if count else {}
    import torch.distributed as dist

    keys = sorted(sums)
    flat = torch.tensor([*(sums[k] for k in keys), float(count)], dtype=torch.float64)
    dist.all_reduce(flat)
    total = float(flat[-1])
    return {k: float(v) / total for k, v in zip(keys, flat[:-1])} if total else {}


def gather_states(state: Tensor, world: World) -> list[Tensor]:
    """Every rank's copy of a same-sized uint8 state (an RNG state), rank order."""
    if not world.distributed:
        return [state]
    import torch.distributed as dist

    out = [torch.empty_like(state) for _ in range(world.size)]
    dist.all_gather(out, state)
    return out


def barrier(world: World) -> None:
    """Wait until every rank gets here."""
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()
