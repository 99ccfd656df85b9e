"""Random weights that detect (panfpn_d2.tools.random_weights) with the score distribution of a
trained model: for the panoptic-only tests and benchmarks, whose savings depend on how many
detections the merge pastes."""
import torch
from detectron2.modeling import GeneralizedRCNN


@torch.no_grad()
def calibrate_detection_scores(
    model: GeneralizedRCNN, batched_inputs, confident_fraction: float = 0.2, confidence: float = 0.5
) -> float:
    """Scale the class weights of a model made to detect, in place, so that about
    ``confident_fraction`` of its detections on ``batched_inputs`` score ``confidence`` or more
    (a trained COCO model keeps 100 detections per image, about a fifth above 0.5).

    One inference records the box predictor's inputs and proposals; the scale is then found by
    bisection (on a log scale) re-running only the class scores and detectron2's test-time box
    inference on them. Returns the fraction reached.
    """
    predictor = model.roi_heads.box_predictor
    features, calls = [], []
    hook = predictor.register_forward_hook(lambda module, args, output: features.append(args[0]))
    run_box_inference = predictor.inference
    predictor.inference = lambda predictions, proposals: calls.append((predictions, proposals)) or run_box_inference(
        predictions, proposals)
    try:
        model.eval()
        for model_input in batched_inputs:
            model([model_input])
    finally:
        hook.remove()
        del predictor.inference  # the class's method again

    weight = predictor.cls_score.weight.clone()

    def fraction_at(scale):
        confident = total = 0
        for x, ((_, deltas), proposals) in zip(features, calls):
            scores = torch.nn.functional.linear(x.flatten(1), weight * scale, predictor.cls_score.bias)
            for detections in run_box_inference((scores, deltas), proposals)[0]:
                confident += int((detections.scores >= confidence).sum())
                total += len(detections)
        return confident / max(total, 1)

    low, high = -6.0, 6.0  # log10 of the scale
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if fraction_at(10**middle) < confident_fraction else (low, middle)
    predictor.cls_score.weight.copy_(weight * 10**high)
    return fraction_at(10**high)
