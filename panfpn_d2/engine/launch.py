"""detectron2's ``launch`` (``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``),
also on machines without CUDA: there each process joins a gloo group, as detectron2 main's launch
does; detectron2 v0.6's asserts CUDA, so on v0.6 without CUDA the processes are started here the
way main starts them."""
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import launch as d2_launch
from detectron2.utils import comm

from ..compat import create_local_process_group, launch_supports_cpu

__all__ = ["launch"]

TIMEOUT = timedelta(minutes=30)  # detectron2's DEFAULT_TIMEOUT


def launch(main_func, num_gpus_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=()):
    """Run ``main_func(*args)`` in ``num_gpus_per_machine`` processes on each of ``num_machines`` machines."""
    world_size = num_machines * num_gpus_per_machine
    if world_size == 1 or torch.cuda.is_available() or launch_supports_cpu():
        return d2_launch(main_func, num_gpus_per_machine, num_machines=num_machines, machine_rank=machine_rank,
                         dist_url=dist_url, args=args)
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto works on one machine only: give the address of machine 0")
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    mp.start_processes(
        _cpu_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args),
        daemon=False,
        start_method="spawn",
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_worker(local_rank, main_func, world_size, num_per_machine, machine_rank, dist_url, args):
    dist.init_process_group(
        "gloo", init_method=dist_url, world_size=world_size, rank=machine_rank * num_per_machine + local_rank,
        timeout=TIMEOUT,
    )
    create_local_process_group(num_per_machine)
    comm.synchronize()  # as detectron2: all processes up before any work
    main_func(*args)
