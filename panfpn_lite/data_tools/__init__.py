"""``panfpn-data``: check a COCO panoptic dataset before training (``check.py``) and convert the
layouts panoptic data comes in to COCO panoptic (``convert.py``). numpy and Pillow only, plus
pycocotools for COCO instance masks; the command line is ``cli.py``.
"""
