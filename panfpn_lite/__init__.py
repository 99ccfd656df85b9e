"""Torch-free tools of panfpn_d2: they import neither torch nor detectron2."""
