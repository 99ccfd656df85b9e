"""The panoptic merge's settings, one spelling for every carrier: the config
(``MODEL.PANOPTIC_FPN.COMBINE.*``, read by ``panfpn_d2.config.merge_settings``), the model, the
export metadata's ``"merge"`` object and the two merges (torch and the runtime's numpy one)."""
from dataclasses import asdict, dataclass, fields
from numbers import Real
from typing import Tuple, Union

# A number, or one number per category (stuff area limit: per stuff category id; confidence
# threshold: per thing class), the per-category form being the torch merge's only.
Threshold = Union[float, Tuple[float, ...]]


def _checked_threshold(value, name: str) -> Threshold:
    if isinstance(value, Real) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, Real) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ValueError(f"MergeSettings.{name} must be a number or a sequence of per-category numbers, got {value!r}")


@dataclass(frozen=True)
class MergeSettings:
    """The three thresholds of Panoptic FPN's merge (see
    ``panfpn_d2.modeling.panoptic_merge.combine_semantic_and_instance_outputs``).

    overlap_thresh: an instance whose already-claimed share of its mask is greater is skipped.
    stuff_area_limit: stuff segments with fewer free pixels are dropped (a number, or a sequence
        indexed by stuff category id).
    instances_confidence_thresh: instances scoring lower are not pasted (a number, or a sequence
        indexed by thing class).

    The defaults are detectron2's ``MODEL.PANOPTIC_FPN.COMBINE`` defaults.
    """

    overlap_thresh: float = 0.5
    stuff_area_limit: Threshold = 4096
    instances_confidence_thresh: Threshold = 0.5

    def __post_init__(self):
        if not isinstance(self.overlap_thresh, Real) or isinstance(self.overlap_thresh, bool):
            raise ValueError(f"MergeSettings.overlap_thresh must be a number, got {self.overlap_thresh!r}")
        for name in ("stuff_area_limit", "instances_confidence_thresh"):
            object.__setattr__(self, name, _checked_threshold(getattr(self, name), name))

    def per_category_fields(self) -> Tuple[str, ...]:
        """The settings given per category, which the runtime's numpy merge cannot honour."""
        return tuple(f.name for f in fields(self) if isinstance(getattr(self, f.name), tuple))

    def to_metadata(self) -> dict:
        return asdict(self)

    @classmethod
    def from_metadata(cls, merge: dict, source: str) -> "MergeSettings":
        """The settings of an export metadata's ``"merge"`` object; ``source`` (the file) names it in errors."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in merge]
        if missing:
            raise ValueError(f"{source}: \"merge\" lacks {missing} (it has {sorted(merge)})")
        try:
            return cls(**{name: merge[name] for name in names})
        except ValueError as e:
            raise ValueError(f"{source}: \"merge\": {e}") from None
