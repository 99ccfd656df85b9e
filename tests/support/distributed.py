"""Running a function on several CPU processes joined in one gloo group, as a distributed run does."""
import socket
from datetime import timedelta

import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process(rank, world_size, port, queue, worker, args):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size, timeout=timedelta(seconds=120)
    )
    try:
        queue.put((rank, worker(rank, world_size, *args)))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_on_processes(worker, world_size: int, *args) -> dict:
    """``worker(rank, world_size, *args)`` in ``world_size`` spawned processes of one gloo group;
    returns rank -> what it returned (a picklable value). ``worker`` must be a module-level function."""
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_process, args=(world_size, _free_port(), queue, worker, args), nprocs=world_size, join=True)
    return dict(queue.get() for _ in range(world_size))
