"""Command-line tools: ``python -m panfpn_d2.tools.demo`` (pictures of the panoptic output) and
``python -m panfpn_d2.tools.analysis`` (multiply-adds, parameters and activations per component,
and the backbone comparison of the paper's Fig. 4)."""
