"""Random weights that detect: for exercising the instance branch and the merge without a trained
model (the compute analysis counts the ROI heads and the merge doing their usual work with them)."""
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
