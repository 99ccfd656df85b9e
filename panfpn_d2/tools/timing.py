"""Where a model's forward spends its time: named submodules and module-level functions, timed in place."""
import contextlib
import functools
import time
from collections import defaultdict
from typing import Callable, Dict, Tuple

from torch import nn


class ComponentTimer(contextlib.AbstractContextManager):
    """Accumulates the wall-clock seconds of each named component while the context is open.

    ``modules``: name -> submodule, timed around its ``forward`` by hooks.
    ``functions``: name -> (Python module, attribute): a module-level function, replaced for the
    duration by a timed wrapper in the module its caller looks it up in, e.g. the panoptic merge
    (``panfpn_d2.modeling.panoptic_merge.merge_outputs``) as ``PanFPN`` calls it:
    ``(panfpn_d2.modeling.meta_arch, "merge_outputs")``.
    ``synchronize`` runs before each clock reading (``torch.cuda.synchronize`` on a GPU).
    """

    def __init__(
        self,
        modules: Dict[str, nn.Module],
        functions: Dict[str, Tuple[object, str]] = None,
        synchronize: Callable[[], None] = lambda: None,
    ):
        self.modules = modules
        self.functions = functions or {}
        self.synchronize = synchronize
        self.seconds: Dict[str, float] = defaultdict(float)
        self._handles = []
        self._originals = []

    def reset(self) -> Dict[str, float]:
        """The times so far, then start again from zero."""
        seconds, self.seconds = dict(self.seconds), defaultdict(float)
        return seconds

    def _clock(self) -> float:
        self.synchronize()
        return time.perf_counter()

    def __enter__(self):
        for name, module in self.modules.items():
            starts = []  # a stack, should the module call itself
            self._handles.append(module.register_forward_pre_hook(lambda *_, s=starts: s.append(self._clock())))
            self._handles.append(module.register_forward_hook(lambda *_, s=starts, n=name: self._add(n, s.pop())))
        for name, (owner, attribute) in self.functions.items():
            original = getattr(owner, attribute)
            self._originals.append((owner, attribute, original))
            setattr(owner, attribute, self._timed(name, original))
        return self

    def _add(self, name: str, start: float) -> None:
        self.seconds[name] += self._clock() - start

    def _timed(self, name: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = self._clock()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(name, start)

        return timed

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        for owner, attribute, original in reversed(self._originals):
            setattr(owner, attribute, original)
        self._handles, self._originals = [], []
        return False
