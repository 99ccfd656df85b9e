"""Random weights that detect: for exercising the instance branch and the merge without a trained model."""
import torch
from detectron2.modeling import GeneralizedRCNN


@torch.no_grad()
def make_random_model_detect(
    model: GeneralizedRCNN, background_logit: float = -20.0, class_weight_std: float = 1e-3
) -> GeneralizedRCNN:
    """Set a randomly initialised R-CNN's predictors, in place, so that it detects many instances.

    Proposals become the anchors themselves (zero deltas), class scores are peaky with a very
    low background score, and mask logits vary around 0: every box passes the test-time score
    threshold and ~100 overlapping instances per image reach the panoptic merge.

    With the default ``class_weight_std`` the scores of an R50-FPN saturate at 1.0, all tied, so
    their order is the sort's choice; a smaller std (1e-4) spreads them over (0, 1), distinct,
    for comparing two implementations whose sorts may break ties differently.
    """
    model.proposal_generator.rpn_head.anchor_deltas.weight.zero_()
    predictor = model.roi_heads.box_predictor
    predictor.bbox_pred.weight.zero_()
    predictor.cls_score.weight.normal_(0, class_weight_std)
    predictor.cls_score.bias.zero_()
    predictor.cls_score.bias[-1] = background_logit
    model.roi_heads.mask_head.predictor.weight.normal_(0, 1e-3)
    return model


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
