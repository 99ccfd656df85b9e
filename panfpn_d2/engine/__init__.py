from .checkpoint import AtomicCheckpointer, atomic_write
from .train_loop import FiniteLossAMPTrainer, FiniteLossTrainer, check_losses_finite
from .trainer import Trainer, setup_cfg, tta_comparison

__all__ = [
    "AtomicCheckpointer",
    "FiniteLossAMPTrainer",
    "FiniteLossTrainer",
    "Trainer",
    "atomic_write",
    "check_losses_finite",
    "setup_cfg",
    "tta_comparison",
]
