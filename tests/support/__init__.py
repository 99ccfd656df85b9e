"""Code the tests share, imported as ``tests.support.<module>`` (pytest.ini puts the repository root
on sys.path): paths, small configs and inputs, the distributed harness, COCO panoptic file fixtures."""
