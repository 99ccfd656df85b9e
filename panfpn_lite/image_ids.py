"""Image ids as hotcoco and the COCO APIs take them: non-negative integers (no numpy, no PIL: the
``panfpn-pq`` command imports this at start-up)."""
import numbers
from typing import Dict, Hashable, Iterable


def integer_image_ids(image_ids: Iterable[Hashable]) -> Dict[Hashable, int]:
    """A non-negative integer per image id, for hotcoco and the COCO APIs, which take no other ids.

    ``image_ids`` come from the ground truth's image list; build the mapping once and use it for
    ground truth and predictions alike. When every id is a non-negative integer already, each maps
    to itself (numbers and messages unchanged); otherwise (strings, negative numbers, ...) each
    maps to its position among the distinct ids, in list order.
    """
    image_ids = list(dict.fromkeys(image_ids))
    if all(isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 0 for i in image_ids):
        return {i: int(i) for i in image_ids}
    return {image_id: position for position, image_id in enumerate(image_ids)}
