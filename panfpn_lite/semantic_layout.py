"""The semantic branch's label layout: what each label of ``sem_seg`` means.

Built once from a dataset's metadata (detectron2's "separated" panoptic convention: thing contiguous
ids 0..T-1, stuff contiguous ids 1..S with 0 the shared 'things' entry of ``stuff_classes``) and the
thing mode (MODEL.PANFPN.SEM_SEG_THING_MODE):

* "other" (the paper's COCO setting): label 0 is every thing pixel, label k the stuff class of
  contiguous id k;
* "all" (the Cityscapes setting): one label per category, in the dataset's category order
  (metadata ``category_dataset_ids``).
"""
from typing import Dict, List, Optional, Sequence

THING_MODES = ("other", "all")
OTHER_LABEL = 0  # "other" mode: the label of every thing pixel


class SemanticLabelLayout:
    """Per semantic label: its class name, colour, dataset category id (None for "other"'s shared
    things label) and stuff contiguous id (-1: its pixels are discarded by the panoptic merge);
    and the label of any segment."""

    def __init__(
        self,
        thing_mode: str,
        class_names: Sequence[str],
        colors: Optional[Sequence[Sequence[int]]],
        dataset_ids: Sequence[Optional[int]],
        stuff_contiguous_ids: Sequence[int],
        thing_labels: Dict[int, int],
        stuff_labels: Dict[int, int],
    ):
        """
        Args:
            class_names, colors, dataset_ids, stuff_contiguous_ids: one entry per label
                (colors may be None: the dataset has none).
            thing_labels, stuff_labels: thing / stuff contiguous id -> its label.
        """
        if thing_mode not in THING_MODES:
            raise ValueError(f"thing_mode must be one of {THING_MODES}, got {thing_mode!r}")
        lengths = {len(class_names), len(dataset_ids), len(stuff_contiguous_ids)} | (
            {len(colors)} if colors is not None else set()
        )
        if len(lengths) != 1:
            raise ValueError(f"SemanticLabelLayout: per-label lists differ in length ({sorted(lengths)})")
        labels = set(thing_labels.values()) | set(stuff_labels.values())
        if labels and (min(labels) < 0 or max(labels) >= len(class_names)):
            raise ValueError(f"SemanticLabelLayout: segment labels must lie in [0, {len(class_names)})")
        self.thing_mode = thing_mode
        self.class_names: List[str] = list(class_names)
        self.colors = None if colors is None else [list(c) for c in colors]
        self.dataset_ids: List[Optional[int]] = list(dataset_ids)
        self.stuff_contiguous_ids: List[int] = [int(i) for i in stuff_contiguous_ids]
        self._labels = {True: dict(thing_labels), False: dict(stuff_labels)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_metadata(cls, metadata, thing_mode: str) -> "SemanticLabelLayout":
        """The layout of a dataset registered with the separated convention ("all" also needs
        ``category_dataset_ids``, as register_panoptic_dataset sets)."""
        if thing_mode not in THING_MODES:
            raise ValueError(f"thing_mode must be one of {THING_MODES}, got {thing_mode!r}")
        stuff_colors = getattr(metadata, "stuff_colors", None)
        if thing_mode == "other":
            # Contiguous ids are the labels here: things 0..T-1 all -> 0, stuff k -> k.
            stuff_dataset_ids = {
                int(c): int(d) for d, c in getattr(metadata, "stuff_dataset_id_to_contiguous_id", {}).items()
            }
            num_labels = len(metadata.stuff_classes)
            return cls(
                thing_mode,
                metadata.stuff_classes,
                stuff_colors,
                [stuff_dataset_ids.get(label) for label in range(num_labels)],
                [-1] + list(range(1, num_labels)),
                {c: OTHER_LABEL for c in range(len(getattr(metadata, "thing_classes", [])))},
                {c: c for c in range(1, num_labels)},
            )
        thing_ids = {int(d): int(c) for d, c in metadata.thing_dataset_id_to_contiguous_id.items()}
        stuff_ids = {int(d): int(c) for d, c in metadata.stuff_dataset_id_to_contiguous_id.items()}
        order = getattr(metadata, "category_dataset_ids", None)
        if order is None:
            raise ValueError(
                f"dataset {metadata.name!r} has no metadata 'category_dataset_ids' (the category order), which "
                "MODEL.PANFPN.SEM_SEG_THING_MODE='all' needs; register it with panfpn_d2.data.register_panoptic_dataset"
            )
        order = [int(d) for d in order]
        thing_colors = getattr(metadata, "thing_colors", None)
        has_colors = thing_colors is not None and stuff_colors is not None
        names, colors = [], []
        for dataset_id in order:
            if dataset_id in thing_ids:
                names.append(metadata.thing_classes[thing_ids[dataset_id]])
                colors.append(thing_colors[thing_ids[dataset_id]] if has_colors else None)
            else:
                names.append(metadata.stuff_classes[stuff_ids[dataset_id]])
                colors.append(stuff_colors[stuff_ids[dataset_id]] if has_colors else None)
        label_of = {dataset_id: label for label, dataset_id in enumerate(order)}
        return cls(
            thing_mode,
            names,
            colors if has_colors else None,
            order,
            [stuff_ids.get(dataset_id, -1) for dataset_id in order],
            {c: label_of[d] for d, c in thing_ids.items()},
            {c: label_of[d] for d, c in stuff_ids.items()},
        )

    def segment_label(self, segment: dict, source: str = "") -> int:
        """The label of a dataset dict's segment (``category_id`` contiguous, ``isthing``)."""
        table = self._labels[bool(segment["isthing"])]
        category = int(segment["category_id"])
        if category not in table:
            kind = "thing" if segment["isthing"] else "stuff"
            where = f"{source}: " if source else ""
            raise ValueError(
                f"{where}segment {segment['id']} has {kind} contiguous category_id {category}, unknown to the metadata"
            )
        return table[category]
