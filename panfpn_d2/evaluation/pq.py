"""Panoptic quality on COCO panoptic files, with panopticapi's command line and result dict.

    python -m panfpn_d2.evaluation.pq --gt_json_file G --pred_json_file P \\
        [--gt_folder GF] [--pred_folder PF] [--output-json FILE]

prints panopticapi's table and writes the dict ``panopticapi.evaluation.pq_compute`` returns
(``All``/``Things``/``Stuff``: ``pq``, ``sq``, ``rq`` as fractions and ``n``; ``per_class``:
category id -> ``pq``, ``sq``, ``rq``). The work is hotcoco's PQ (Rust, parallel, panopticapi's
matching rules), not panopticapi's one-process-per-core Python loop.
"""
import argparse
import json
import sys
import time
from typing import Dict, List, Optional

from hotcoco import panoptic as hotcoco_panoptic

GROUPS = ("All", "Things", "Stuff")


def is_scored(class_result: dict) -> bool:
    """Whether a category had any segment on either side (panopticapi averages only those)."""
    return class_result["tp"] + class_result["fp"] + class_result["fn"] > 0


def panopticapi_results(hotcoco_results: dict) -> dict:
    """hotcoco's ``PanopticEval.results()`` reduced to exactly panopticapi's ``pq_compute`` dict.

    hotcoco marks a category with no segment on either side with -1.0; panopticapi reports 0.0
    for it (and leaves it out of the means either way). hotcoco's extra keys are dropped.
    """
    results = {group: dict(hotcoco_results[group]) for group in GROUPS}
    results["per_class"] = {
        int(category_id): (
            {metric: r[metric] for metric in ("pq", "sq", "rq")}
            if is_scored(r)
            else {"pq": 0.0, "sq": 0.0, "rq": 0.0}
        )
        for category_id, r in hotcoco_results["per_class"].items()
    }
    return results


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


def pq_compute(
    gt_json_file: str, pred_json_file: str, gt_folder: Optional[str] = None, pred_folder: Optional[str] = None
) -> dict:
    """panopticapi's ``pq_compute``: same arguments, same printout, same return value.

    Folders default to the JSON path without ``.json``, as in panopticapi.
    """
    start = time.perf_counter()
    gt_folder = gt_folder if gt_folder is not None else gt_json_file.replace(".json", "")
    pred_folder = pred_folder if pred_folder is not None else pred_json_file.replace(".json", "")
    print("Evaluation panoptic segmentation metrics:")
    print(f"Ground truth:\n\tSegmentation folder: {gt_folder}\n\tJSON file: {gt_json_file}")
    print(f"Prediction:\n\tSegmentation folder: {pred_folder}\n\tJSON file: {pred_json_file}")
    evaluation = hotcoco_panoptic.PanopticEval(
        gt_json_file, pred_json_file, gt_folder=gt_folder, pred_folder=pred_folder
    )
    evaluation.evaluate()
    results = panopticapi_results(evaluation.results())
    print("\n".join(panopticapi_table(results)))
    print("Time elapsed: {:0.2f} seconds".format(time.perf_counter() - start))
    return results


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt_json_file", required=True, help="JSON file with ground truth data")
    parser.add_argument("--pred_json_file", required=True, help="JSON file with predictions data")
    parser.add_argument(
        "--gt_folder", default=None, help="folder with ground truth PNGs (default: X for X.json)"
    )
    parser.add_argument(
        "--pred_folder", default=None, help="folder with predicted PNGs (default: X for X.json)"
    )
    parser.add_argument("--output-json", default=None, help="write the result dict to this JSON file")
    args = parser.parse_args(argv)
    results = pq_compute(args.gt_json_file, args.pred_json_file, args.gt_folder, args.pred_folder)
    if args.output_json:
        with open(args.output_json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
