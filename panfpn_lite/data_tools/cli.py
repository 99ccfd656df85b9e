"""The ``panfpn-data`` command (or ``python -m panfpn_lite.data_tools``).

    panfpn-data check --json J --png-dir P --images I [--overlays DIR --num N] [--workers W]
    panfpn-data convert semantic-instance --images I --semantic S --instances N --categories C
        --output-json J --output-png-dir P [--ignore-label 255 ...] [--cityscapes-ids] [--workers W]
    panfpn-data convert coco-stuff --images I --instances-json J --semantic S --categories C
        --output-json J --output-png-dir P [--ignore-label 255 ...] [--workers W]

Exit status 1 when the dataset or the input has problems (each printed, naming its file), 2 on a
bad command line.
"""
import argparse
import sys
import time
from typing import List, Optional

from .segments import default_workers


def _check(args) -> int:
    from .check import check_dataset, format_report, write_overlays

    start = time.perf_counter()
    result = check_dataset(args.json, args.png_dir, args.images, args.workers)
    seconds = time.perf_counter() - start
    print(format_report(result))
    print(f"checked {len(result.tasks)} images in {seconds:.1f} s ({len(result.tasks) / max(seconds, 1e-9):.1f} images/s, {args.workers} processes)")
    if args.overlays:
        written = write_overlays(result, args.overlays, args.num)
        print(f"wrote {len(written)} overlays to {args.overlays}")
    return 0 if result.ok else 1


def _convert(args) -> int:
    from .categories import read_category_table
    from .convert import ConversionError, convert_coco_stuff, convert_semantic_instance, pair_label_files

    try:
        categories = read_category_table(args.categories)
        if args.layout == "semantic-instance":
            samples = pair_label_files(args.images, args.semantic, args.instances)
            counts = convert_semantic_instance(
                samples, categories, args.output_json, args.output_png_dir, args.ignore_label,
                args.cityscapes_ids, args.workers,
            )
        else:
            counts = convert_coco_stuff(
                args.images, args.instances_json, args.semantic, categories, args.output_json,
                args.output_png_dir, args.ignore_label, args.workers,
            )
    except (ConversionError, ValueError, FileNotFoundError) as e:
        for line in str(e).splitlines():
            print(f"ERROR {line}", file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
    print(f"wrote {args.output_json} and {args.output_png_dir}: {counts.pop('images')} images, {counts.pop('segments')} segments")
    for name, value in counts.items():
        if isinstance(value, dict):
            for rule, pixels in value.items():
                print(f"  {pixels} {rule}")
        else:
            print(f"  {value} {name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panfpn-data", description="Check and convert panoptic datasets (COCO panoptic format).")
    commands = parser.add_subparsers(dest="command", required=True)
    workers = dict(type=int, default=default_workers(), help="processes decoding images (default %(default)s)")

    check = commands.add_parser("check", help="report every problem of a COCO panoptic dataset, its statistics and config keys")
    check.add_argument("--json", required=True, help="the COCO panoptic JSON")
    check.add_argument("--png-dir", required=True, help="the folder of its panoptic PNGs")
    check.add_argument("--images", required=True, help="the folder of its images")
    check.add_argument("--overlays", help="write ground-truth overlays (PNG) into this folder")
    check.add_argument("--num", type=int, default=20, help="how many overlays (default %(default)s)")
    check.add_argument("--workers", **workers)
    check.set_defaults(run=_check)

    convert = commands.add_parser("convert", help="convert a dataset to COCO panoptic (JSON + PNGs)")
    layouts = convert.add_subparsers(dest="layout", required=True)
    semantic_instance = layouts.add_parser("semantic-instance", help="per image a category-id PNG and an instance-number PNG")
    semantic_instance.add_argument("--semantic", required=True, help="folder of x.png: category id per pixel")
    semantic_instance.add_argument("--instances", required=True, help="folder of x.png: instance number per pixel (0: none; thing categories only)")
    semantic_instance.add_argument(
        "--cityscapes-ids", action="store_true",
        help="the instance PNGs are Cityscapes' *_instanceIds.png (labelId*1000+instance; the labelId alone elsewhere)",
    )
    coco_stuff = layouts.add_parser("coco-stuff", help="a COCO instances JSON (polygons or RLE) + semantic PNGs for stuff")
    coco_stuff.add_argument("--instances-json", required=True, help="COCO instances JSON of the images")
    coco_stuff.add_argument("--semantic", required=True, help="folder of <image stem>.png: category id per pixel (stuff used)")
    for layout in (semantic_instance, coco_stuff):
        layout.add_argument("--images", required=True, help="the folder of the images")
        layout.add_argument("--categories", required=True, help="category table: COCO JSON list or CSV id,name,isthing[,color]")
        layout.add_argument("--output-json", required=True)
        layout.add_argument("--output-png-dir", required=True)
        layout.add_argument("--ignore-label", type=int, nargs="+", default=[255], help="semantic values that are void (default 255)")
        layout.add_argument("--workers", **workers)
        layout.set_defaults(run=_convert)
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.run(args))
