"""The Cityscapes category list (detectron2's copy, so that registering needs no cityscapesscripts)
is cityscapesscripts' own: its evaluated labels in trainId order, as createPanopticImgs writes them."""
from cityscapesscripts.helpers.labels import labels

from panfpn_d2.data.datasets import cityscapes_panoptic_categories


def test_categories_are_cityscapesscripts_evaluated_labels_in_train_id_order():
    evaluated = sorted((label for label in labels if not label.ignoreInEval), key=lambda label: label.trainId)
    assert cityscapes_panoptic_categories() == [
        {"id": label.id, "name": label.name, "isthing": int(label.hasInstances), "color": list(label.color)}
        for label in evaluated
    ]
