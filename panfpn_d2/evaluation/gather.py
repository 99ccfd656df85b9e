"""Collecting evaluators' per-process state on the main process."""
from typing import Any, List, Optional

from detectron2.utils import comm


def gather_on_main(local: Any, distributed: bool) -> Optional[List[Any]]:
    """Every process's ``local`` (in rank order) on the main process, None on the others.

    Not distributed: ``[local]``. Waits for every process first, so files they wrote are complete.
    """
    if not distributed:
        return [local]
    comm.synchronize()
    gathered = comm.gather(local, dst=0)
    return gathered if comm.is_main_process() else None
