"""Hand-made training inputs, and exact comparison of training states."""
import torch
from detectron2.structures import BitMasks, Boxes, Instances


def make_training_inputs(num_images=2, size=(64, 96), num_thing_classes=80, num_sem_classes=54, seed=0):
    """Images with two boxes/masks each and a random semantic map."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = []
    for _ in range(num_images):
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        masks[0, 5:30, 10:40] = True
        masks[1, 20:60, 50:90] = True
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.tensor([[10.0, 5, 40, 30], [50, 20, 90, 60]]))
        inst.gt_classes = torch.randint(num_thing_classes, (2,), generator=g)
        inst.gt_masks = BitMasks(masks)
        sem_seg = torch.randint(num_sem_classes, (h, w), generator=g)
        sem_seg[:2] = 255  # some ignored pixels
        image = torch.randint(0, 256, (3, h, w), generator=g).float()
        inputs.append({"image": image, "instances": inst, "sem_seg": sem_seg, "height": h, "width": w})
    return inputs


def assert_same_state(actual, expected, where="state"):
    """Nested dicts / lists of tensors and plain values are exactly equal."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{where}: keys differ"
        for key in expected:
            assert_same_state(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{where}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{where}[{index}]")
    elif isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected), f"{where}: tensors differ"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
