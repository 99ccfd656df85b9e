"""Panoptic quality on COCO panoptic files, with panopticapi's command line and result dict.

    panfpn-pq --gt_json_file G --pred_json_file P [--gt_folder GF] [--pred_folder PF] [--output-json FILE]
              [--per-class] [--csv FILE] [--breakdown [--size-ranges A B ...]]
              [--report DIR [--images IMAGE_DIR] [--worst N]]

(or ``python -m panfpn_lite.pq ...``)

prints panopticapi's table (``--per-class``: and a per-category table sorted by PQ), and writes the dict
``panopticapi.evaluation.pq_compute`` returns (``All``/``Things``/``Stuff``: ``pq``, ``sq``, ``rq``
as fractions and ``n``; ``per_class``: category id -> ``pq``, ``sq``, ``rq``, here with the ``tp``,
``fp``, ``fn`` counts beside them). The work is hotcoco's PQ (Rust, parallel, panopticapi's
matching rules), not panopticapi's one-process-per-core Python loop. ``--breakdown`` adds PQ by
segment size, boundary PQ and the error breakdown (``by_size``, ``boundary``, ``errors``: a second,
numpy pass over the PNGs, see ``panfpn_lite.pq_breakdown`` and docs/diagnosing_pq.md); ``--report``
that breakdown and a static HTML page of it (``panfpn_lite.pq_report``, needs matplotlib).

hotcoco reads the JSON files itself (the fast path) when their image ids are its non-negative
integers. Image ids may be any JSON value, as in panopticapi (Cityscapes' are strings such as
"lindau_000002_000019"): other ids are mapped to integers on the way in (``integer_image_ids``).
"""
import argparse
import csv
import ctypes
import importlib.machinery
import importlib.util
import json
import math
import os
import sys
import time
from typing import Iterator, List, Optional

from .image_ids import integer_image_ids

GROUPS = ("All", "Things", "Stuff")


def with_integer_image_ids(gt_dataset: dict, pred_dataset: dict) -> tuple:
    """Copies of a COCO panoptic ground truth and prediction dict whose image ids are hotcoco's
    integers (one mapping, from the ground truth's images then annotations).

    As in panopticapi, every ground truth annotation needs a prediction (ValueError naming the
    image id as given otherwise) and predictions of other images are left out.
    """
    gt_annotations = gt_dataset.get("annotations", [])
    integer_ids = integer_image_ids(
        [image["id"] for image in gt_dataset.get("images", [])] + [a["image_id"] for a in gt_annotations]
    )
    predicted = {a["image_id"] for a in pred_dataset.get("annotations", [])}
    for annotation in gt_annotations:
        if annotation["image_id"] not in predicted:
            raise ValueError(f"no prediction for the image with id {annotation['image_id']!r}")

    def mapped(dataset: dict) -> dict:
        result = dict(dataset)
        if "images" in dataset:
            result["images"] = [dict(i, id=integer_ids[i["id"]]) for i in dataset["images"] if i["id"] in integer_ids]
        result["annotations"] = [
            dict(a, image_id=integer_ids[a["image_id"]])
            for a in dataset.get("annotations", [])
            if a["image_id"] in integer_ids
        ]
        return result

    return mapped(gt_dataset), mapped(pred_dataset)


def _read_json(path: str) -> dict:
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a valid JSON file ({error})") from None


def is_scored(class_result: dict) -> bool:
    """Whether a category had any segment on either side (panopticapi averages only those)."""
    return class_result["tp"] + class_result["fp"] + class_result["fn"] > 0


def panopticapi_results(hotcoco_results: dict) -> dict:
    """hotcoco's ``PanopticEval.results()`` reduced to exactly panopticapi's ``pq_compute`` dict.

    hotcoco marks a category with no segment on either side with -1.0; panopticapi reports 0.0
    for it (and leaves it out of the means either way). Of hotcoco's extra keys only the
    per-class ``tp``, ``fp``, ``fn`` counts are kept.
    """
    results = {group: dict(hotcoco_results[group]) for group in GROUPS}
    results["per_class"] = {
        int(category_id): dict(
            {metric: r[metric] for metric in ("pq", "sq", "rq")}
            if is_scored(r)
            else {"pq": 0.0, "sq": 0.0, "rq": 0.0},
            **{count: r[count] for count in ("tp", "fp", "fn")},
        )
        for category_id, r in hotcoco_results["per_class"].items()
    }
    return results


PER_CATEGORY_COLUMNS = ("category_id", "name", "isthing", "pq", "sq", "rq", "tp", "fp", "fn")


def per_category_rows(per_class: dict, categories: List[dict]) -> List[dict]:
    """One row per category (``PER_CATEGORY_COLUMNS``, scores as fractions), the scored ones
    sorted by PQ, best first, then those with no segment on either side (scores None)."""
    rows = []
    for category in categories:
        r = per_class[int(category["id"])]
        scores = {m: r[m] for m in ("pq", "sq", "rq")} if is_scored(r) else dict.fromkeys(("pq", "sq", "rq"))
        rows.append(dict(category_id=int(category["id"]), name=category["name"], isthing=int(category["isthing"]),
                         **scores, tp=r["tp"], fp=r["fp"], fn=r["fn"]))
    return sorted(rows, key=lambda row: (row["pq"] is None, -(row["pq"] or 0.0), row["name"]))


def per_category_table(per_class: dict, categories: List[dict]) -> List[str]:
    """The per-category table of the categories with a segment on either side, sorted by PQ
    (percent), line by line."""
    rows = per_category_rows(per_class, categories)
    scored = [row for row in rows if row["pq"] is not None]
    lines = ["{:24s} {:5s}| {:>5s}  {:>5s}  {:>5s} {:>6s} {:>6s} {:>6s}".format(
        "category", "kind", "PQ", "SQ", "RQ", "TP", "FP", "FN"), "-" * 73]
    for row in scored:
        lines.append("{:24.24s} {:5s}| {:5.1f}  {:5.1f}  {:5.1f} {:6d} {:6d} {:6d}".format(
            row["name"], "thing" if row["isthing"] else "stuff", *(100 * row[m] for m in ("pq", "sq", "rq")),
            row["tp"], row["fp"], row["fn"]))
    if len(scored) < len(rows):
        lines.append(f"({len(rows) - len(scored)} categories with no segment on either side left out)")
    return lines


def write_per_category_csv(path: str, per_class: dict, categories: List[dict]) -> None:
    """The per-category table as CSV (scores as fractions, empty for unscored categories)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PER_CATEGORY_COLUMNS)
        writer.writeheader()
        writer.writerows(per_category_rows(per_class, categories))


def panopticapi_table(results: dict) -> List[str]:
    """The summary table panopticapi's ``pq_compute`` prints, line by line."""
    lines = ["{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"), "-" * (10 + 7 * 4)]
    for group in GROUPS:
        r = results[group]
        lines.append(
            "{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(
                group, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], r["n"]
            )
        )
    return lines


def breakdown_images(gt_dataset: dict, pred_dataset: dict, gt_folder: str, pred_folder: str) -> Iterator[tuple]:
    """(gt id map, gt segments_info, predicted id map, predicted segments_info, image id) of each
    ground truth annotation, its prediction found by image id (``PQBreakdown.add``'s arguments)."""
    from .panoptic_format import read_panoptic_png  # numpy and PIL: not on the plain path's start-up

    predictions = {a["image_id"]: a for a in pred_dataset["annotations"]}
    for gt_annotation in gt_dataset["annotations"]:
        image_id = gt_annotation["image_id"]
        if image_id not in predictions:
            raise ValueError(f"no prediction for the image with id {image_id!r}")
        pred_annotation = predictions[image_id]
        yield (
            read_panoptic_png(os.path.join(gt_folder, gt_annotation["file_name"])),
            gt_annotation["segments_info"],
            read_panoptic_png(os.path.join(pred_folder, pred_annotation["file_name"])),
            pred_annotation["segments_info"],
            str(image_id),
        )


def _write_report(directory, results, diagnosis, gt_dataset, pred_dataset, gt_folder, pred_folder,
                  images_folder, worst) -> str:
    """``pq_report.write_report`` of a breakdown of these files: an image's maps read again by its name."""
    from .pq_report import DEFAULT_WORST_IMAGES, write_report

    gt_annotations = {str(a["image_id"]): a for a in gt_dataset["annotations"]}
    file_names = {str(image["id"]): image.get("file_name") for image in gt_dataset.get("images", [])}

    def load_pair(image_name):
        one = dict(gt_dataset, annotations=[gt_annotations[image_name]])
        return next(breakdown_images(one, pred_dataset, gt_folder, pred_folder))[:4]

    def photo_file(image_name):
        file_name = file_names.get(image_name)
        return None if file_name is None else os.path.join(images_folder, file_name)

    return write_report(directory, results, diagnosis, load_pair, photo_file if images_folder else None,
                        DEFAULT_WORST_IMAGES if worst is None else worst)


def pq_compute(
    gt_json_file: str,
    pred_json_file: str,
    gt_folder: Optional[str] = None,
    pred_folder: Optional[str] = None,
    *,
    per_class_table: bool = False,
    breakdown: bool = False,
    size_ranges: Optional[tuple] = None,
    report: Optional[str] = None,
    images_folder: Optional[str] = None,
    worst: Optional[int] = None,
) -> dict:
    """panopticapi's ``pq_compute``: same arguments, same printout, same return value, plus the
    per-category ``tp``, ``fp``, ``fn``. With ``per_class_table``, also prints the per-category
    table; with ``breakdown``, that table and ``by_size`` (``size_ranges``, default COCO's),
    ``boundary`` and ``errors`` (``panfpn_lite.pq_breakdown``). With ``report`` (a folder), the
    breakdown and its HTML page there (``panfpn_lite.pq_report``): the ``worst`` images of lowest PQ
    over their image files in ``images_folder`` (the ground truth's ``images`` file names) if given.

    Without either, the JSON files are read by hotcoco alone where their image ids are its integers
    (the fast path); the table's category names and the breakdown need the files in Python too.

    Folders default to the JSON path without ``.json``, as in panopticapi. Image ids may be any
    JSON value (panopticapi's rule), strings included.
    """
    start = time.perf_counter()
    if report is not None:
        from .pq_report import require_matplotlib

        require_matplotlib()  # before the evaluation, not after it
    gt_folder = gt_folder if gt_folder is not None else gt_json_file.replace(".json", "")
    pred_folder = pred_folder if pred_folder is not None else pred_json_file.replace(".json", "")
    print("Evaluation panoptic segmentation metrics:")
    print(f"Ground truth:\n\tSegmentation folder: {gt_folder}\n\tJSON file: {gt_json_file}")
    print(f"Prediction:\n\tSegmentation folder: {pred_folder}\n\tJSON file: {pred_json_file}")
    PanopticEval = panoptic_eval_class()
    try:
        evaluation = PanopticEval(gt_json_file, pred_json_file, gt_folder=gt_folder, pred_folder=pred_folder)
    except ValueError:
        # hotcoco parses only non-negative integer image ids: map the others; any other
        # problem with the files surfaces again, named, on this path
        gt_dataset, pred_dataset = with_integer_image_ids(_read_json(gt_json_file), _read_json(pred_json_file))
        evaluation = PanopticEval(gt_dataset, pred_dataset, gt_folder=gt_folder, pred_folder=pred_folder)
    evaluation.evaluate()
    results = panopticapi_results(evaluation.results())
    print("\n".join(panopticapi_table(results)))
    breakdown = breakdown or report is not None
    if per_class_table or breakdown:
        gt_dataset = _read_json(gt_json_file)
        print("\n".join(["", "Per category, by PQ:"] + per_category_table(results["per_class"], gt_dataset["categories"])))
    if breakdown:
        from .pq_breakdown import PQBreakdown, breakdown_tables  # numpy: not on the plain path's start-up

        pred_dataset = _read_json(pred_json_file)
        diagnosis = PQBreakdown(gt_dataset["categories"], size_ranges)
        for image in breakdown_images(gt_dataset, pred_dataset, gt_folder, pred_folder):
            diagnosis.add(*image)
        results.update(diagnosis.result())
        print("\n".join([""] + breakdown_tables(results)))
    if report is not None:
        page = _write_report(report, results, diagnosis, gt_dataset, pred_dataset, gt_folder, pred_folder,
                             images_folder, worst)
        print(f"Report: {page}")
    print("Time elapsed: {:0.2f} seconds".format(time.perf_counter() - start))
    return results


HOTCOCO_CORE = "hotcoco.hotcoco"


def _load_hotcoco_core():
    """hotcoco's compiled core module, loaded without running the ``hotcoco`` package's
    ``__init__``, or None where the installed hotcoco is laid out otherwise.

    The package's ``__init__`` imports numpy for its integrations: 0.16 s of a command whose
    evaluation takes 0.35 s (docs/benchmarks.md). The core is registered under its own name, so a
    later ``import hotcoco`` takes this module instead of initialising the extension twice.
    """
    package = importlib.util.find_spec("hotcoco")
    if package is None or not package.submodule_search_locations:
        return None
    for folder in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "hotcoco" + suffix)
            if os.path.isfile(path):
                spec = importlib.util.spec_from_file_location(HOTCOCO_CORE, path)  # an extension loader
                core = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(core)
                sys.modules[HOTCOCO_CORE] = core
                return core
    return None


def panoptic_eval_class():
    """hotcoco's ``PanopticEval``: from its core alone when hotcoco is not imported yet (the
    command's fast start), from the package otherwise."""
    core = sys.modules.get(HOTCOCO_CORE)
    if core is None and "hotcoco" not in sys.modules:
        core = _load_hotcoco_core()
    if core is not None:
        return core.panoptic.PanopticEval
    from hotcoco.panoptic import PanopticEval

    return PanopticEval


def _grow_heap_in_large_steps(pad_bytes: int = 64 << 20) -> None:
    """glibc only (elsewhere a no-op): extend the heap ``pad_bytes`` beyond each request.

    hotcoco allocates and frees image-sized buffers for every image; with glibc's default padding
    the heap grows and shrinks around them, page-faulting them in anew each time, which doubled
    the PQ time in a fresh process (docs/benchmarks.md). Set by the command only, never on import.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_top_pad = -2  # glibc's M_TOP_PAD
    mallopt(m_top_pad, pad_bytes)


def size_ranges_from_edges(edges: List[float]) -> tuple:
    """(name, low, high) area ranges from 0 to infinity cut at ``edges`` (increasing, positive);
    two edges give small/medium/large, other counts names such as "[1024, 9216)"."""
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
        raise ValueError(f"area edges must be positive and increasing, got {edges}")
    bounds = [0, *edges, math.inf]
    names = ("small", "medium", "large") if len(edges) == 2 else [f"[{a:g}, {b:g})" for a, b in zip(bounds, bounds[1:])]
    return tuple(zip(names, bounds, bounds[1:]))


def main(argv: Optional[List[str]] = None) -> None:
    """The ``panfpn-pq`` command (``argv``: its arguments; default the process's).

    Its two start-up measures (hotcoco's core without the package, the heap padding) earn their
    place: whole commands on bench_pq_cli.py's 200 generated pairs, each measure patched out in
    turn, 11 interleaved runs of each variant on the loaded 2-core VM (2026-12-07), medians 0.79 s
    with both, 1.06 s without the core loader, 1.48 s without the padding, 1.83 s with neither
    (plain ``import hotcoco``).
    """
    _grow_heap_in_large_steps()
    # Where hotcoco comes in through its package (numpy and OpenBLAS with it): no linear algebra
    # here, and one OpenBLAS thread spares starting (and stopping) one per core.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(prog="panfpn-pq", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt_json_file", required=True, help="JSON file with ground truth data")
    parser.add_argument("--pred_json_file", required=True, help="JSON file with predictions data")
    parser.add_argument(
        "--gt_folder", default=None, help="folder with ground truth PNGs (default: X for X.json)"
    )
    parser.add_argument(
        "--pred_folder", default=None, help="folder with predicted PNGs (default: X for X.json)"
    )
    parser.add_argument("--output-json", default=None, help="write the result dict to this JSON file")
    parser.add_argument("--per-class", action="store_true", help="also print the per-category table, sorted by PQ")
    parser.add_argument("--csv", default=None, help="write the per-category table to this CSV file")
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also the per-category table, PQ by segment size, boundary PQ and the error breakdown "
        "(a second pass over the PNGs)",
    )
    parser.add_argument(
        "--size-ranges", type=float, nargs="+", metavar="AREA", default=None,
        help="with --breakdown: the area edges in pixels between size ranges (default COCO's: 1024 9216, "
        "that is 32² and 96²); two edges name the ranges small/medium/large",
    )
    parser.add_argument(
        "--report", default=None, metavar="DIR",
        help="also the breakdown and a static HTML page of it, DIR/index.html with PNGs beside it (needs "
        "matplotlib: pip install 'panfpn_d2[report]')",
    )
    parser.add_argument(
        "--images", default=None, metavar="IMAGE_DIR",
        help="with --report: the folder of the images (the ground truth's file names), under the overlays",
    )
    parser.add_argument("--worst", type=int, default=None, metavar="N",
                        help="with --report: how many images of lowest PQ it shows (default 8)")
    args = parser.parse_args(argv)
    if args.report is None and (args.images is not None or args.worst is not None):
        parser.error("--images and --worst go with --report")
    if args.worst is not None and args.worst < 0:
        parser.error(f"--worst must be >= 0, got {args.worst}")
    try:
        size_ranges = None if args.size_ranges is None else size_ranges_from_edges(args.size_ranges)
    except ValueError as error:
        parser.error(f"--size-ranges: {error}")
    results = pq_compute(
        args.gt_json_file, args.pred_json_file, args.gt_folder, args.pred_folder,
        per_class_table=args.per_class, breakdown=args.breakdown, size_ranges=size_ranges,
        report=args.report, images_folder=args.images, worst=args.worst,
    )
    if args.csv:
        write_per_category_csv(args.csv, results["per_class"], _read_json(args.gt_json_file)["categories"])
    if args.output_json:
        with open(args.output_json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
