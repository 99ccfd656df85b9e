"""detectron2's ``launch`` (``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``),
also on machines without CUDA: there each process joins a gloo group, as detectron2 main's launch
does; detectron2 v0.6's asserts CUDA, so on v0.6 without CUDA the processes are started here the
way main starts them."""
import contextlib
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import defaults
from detectron2.engine import launch as d2_launch
from detectron2.utils import comm

__all__ = ["cpu_ddp", "launch"]

TIMEOUT = timedelta(minutes=30)  # detectron2's DEFAULT_TIMEOUT


def launch(main_func, num_gpus_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=()):
    """Run ``main_func(*args)`` in ``num_gpus_per_machine`` processes on each of ``num_machines`` machines."""
    world_size = num_machines * num_gpus_per_machine
    if world_size == 1 or torch.cuda.is_available() or hasattr(comm, "create_local_process_group"):
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
    _create_local_process_group(num_per_machine)
    comm.synchronize()  # as detectron2: all processes up before any work
    main_func(*args)


def _create_local_process_group(num_per_machine: int) -> None:
    """detectron2 main's ``comm.create_local_process_group`` for v0.6, which keeps the group (what
    ``comm.get_local_rank`` reads) in ``comm._LOCAL_PROCESS_GROUP``; every process creates every
    machine's group, as ``dist.new_group`` requires."""
    for machine in range(dist.get_world_size() // num_per_machine):
        ranks = list(range(machine * num_per_machine, (machine + 1) * num_per_machine))
        group = dist.new_group(ranks)
        if dist.get_rank() in ranks:
            comm._LOCAL_PROCESS_GROUP = group


@contextlib.contextmanager
def cpu_ddp():
    """Within it, detectron2's DefaultTrainer wraps a CPU model in DistributedDataParallel without
    device ids: its ``create_ddp_model`` passes ``device_ids=[local rank]``, which DDP refuses for a
    CPU module (detectron2 v0.6 and main alike)."""
    if torch.cuda.is_available() or comm.get_world_size() == 1:
        yield
        return
    stock = defaults.create_ddp_model

    def create_cpu_ddp_model(model, **kwargs):
        return stock(model, **{"device_ids": None, **kwargs})

    defaults.create_ddp_model = create_cpu_ddp_model
    try:
        yield
    finally:
        defaults.create_ddp_model = stock
