"""A static HTML page of why PQ is what it is (``panfpn-pq --report DIR``, ``TEST.PQ_REPORT``).

``DIR/index.html`` with its plots and images as PNG files beside it (relative links, no script,
no server): the summary, PQ per category, PQ by size and boundary PQ, the error breakdown, the
confusion matrix of categories and the images of lowest PQ as ground truth and prediction side by
side. The numbers are ``panfpn_lite.pq``'s result dict and a ``PQBreakdown``'s per-image PQ and
confusion counts (definitions in docs/diagnosing_pq.md). Plots need matplotlib (the ``report``
extra), imported only here.
"""
import html
import math
import os
import zlib
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .pq_breakdown import GROUPS, VOID, PQBreakdown

DEFAULT_WORST_IMAGES = 8
# The confusion plot's cap on categories per axis (those with the most confused segments).
MAX_CONFUSION_CATEGORIES = 30
NONE_LABEL = "none"
# (gt id map, gt segments_info, predicted id map, predicted segments_info) of one image
ImagePair = Tuple[np.ndarray, Sequence[dict], np.ndarray, Sequence[dict]]


def require_matplotlib():
    """matplotlib's ``Figure`` (drawn with its Agg canvas, no pyplot state), or an ImportError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"the PQ report draws its plots with matplotlib ({error}): pip install 'panfpn_d2[report]'"
        ) from None
    return Figure


def category_color(category_id: int) -> np.ndarray:
    """A fixed RGB colour (0-255) per category id: a hue from the id's CRC, saturated and bright."""
    hue = (zlib.crc32(str(category_id).encode()) % 360) / 60.0
    x = 1 - abs(hue % 2 - 1)
    rgb = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(hue) % 6]
    return np.array([40 + 200 * c for c in rgb], dtype=np.float64)


def segment_overlay(id_map: np.ndarray, segments: Sequence[dict], photo: Optional[np.ndarray] = None) -> np.ndarray:
    """An RGB uint8 picture of a segment-id map: each segment in its category's colour (segments
    of one category told apart by brightness), edges between segments dark, void grey; blended
    half and half with ``photo`` (an RGB array of the map's size) where given."""
    picture = np.full(id_map.shape + (3,), 128.0)
    for number, segment in enumerate(segments):
        mask = id_map == int(segment["id"])
        picture[mask] = category_color(int(segment["category_id"])) * (0.75 + 0.25 * ((number * 7919) % 5) / 4)
    edge = np.zeros(id_map.shape, dtype=bool)
    edge[1:] |= id_map[1:] != id_map[:-1]
    edge[:, 1:] |= id_map[:, 1:] != id_map[:, :-1]
    picture[edge] = 20.0
    picture[(id_map == VOID) & ~edge] = 128.0
    if photo is not None:
        picture = 0.5 * picture + 0.5 * photo[..., :3]
    return picture.clip(0, 255).astype(np.uint8)


def read_photo(path: str, shape: Tuple[int, int]) -> np.ndarray:
    """The image at ``path`` as RGB, resized (bilinear) to ``shape`` (height, width) if it differs."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.size != (shape[1], shape[0]):
            image = image.resize((shape[1], shape[0]), Image.BILINEAR)
        return np.asarray(image, dtype=np.float64)


def worst_images(image_pq: dict, count: int) -> List[Tuple[str, dict]]:
    """The ``count`` images of lowest PQ (ties by name), among those with a segment on either side."""
    scored = [(name, groups) for name, groups in image_pq.items() if groups["n"]]
    return sorted(scored, key=lambda item: (item[1]["pq"], item[0]))[:count]


def confusion_table(confusion: dict, categories: Sequence[dict]) -> Tuple[List[Optional[int]], np.ndarray]:
    """The categories of the confusion plot (at most MAX_CONFUSION_CATEGORIES: those with the most
    segments paired with another category or with none; things first, then stuff, by name) and
    the count matrix, rows ground truth and columns prediction, each with a last ``None`` entry."""
    by_id = {int(c["id"]): c for c in categories}
    confused = {}
    for (gt_category, pred_category), count in confusion.items():
        if gt_category != pred_category:
            for category_id in (gt_category, pred_category):
                if category_id is not None:
                    confused[category_id] = confused.get(category_id, 0) + count
    kept = sorted(confused, key=lambda c: (-confused[c], c))[:MAX_CONFUSION_CATEGORIES]
    kept = sorted(kept, key=lambda c: (not by_id[c]["isthing"], by_id[c]["name"]))
    axis = [*kept, None]
    index = {c: i for i, c in enumerate(axis)}
    matrix = np.zeros((len(axis), len(axis)), dtype=np.int64)
    for (gt_category, pred_category), count in confusion.items():
        if gt_category in index and pred_category in index:
            matrix[index[gt_category], index[pred_category]] += count
    return axis, matrix


def kind_confusion(confusion: dict, categories: Sequence[dict]) -> dict:
    """The confusion counts summed by kind: (gt kind, predicted kind) with kinds "thing", "stuff", None."""
    kind = {int(c["id"]): "thing" if c["isthing"] else "stuff" for c in categories}
    kind[None] = None
    totals = {}
    for (gt_category, pred_category), count in confusion.items():
        key = kind[gt_category], kind[pred_category]
        totals[key] = totals.get(key, 0) + count
    return totals


class _Page:
    """The plots (PNG files in the report's folder) and the HTML around them."""

    def __init__(self, directory: str):
        self.directory = directory
        self.Figure = require_matplotlib()
        self.parts: List[str] = []

    def figure(self, width: float, height: float):
        return self.Figure(figsize=(width, height), dpi=100, layout="constrained")

    def save(self, figure, file_name: str, alt: str) -> None:
        figure.savefig(os.path.join(self.directory, file_name))
        self.parts.append(f'<p><img src="{file_name}" alt="{html.escape(alt)}"></p>')

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence]) -> None:
        def cell(value):
            return f"{value:.1f}" if isinstance(value, float) else html.escape(str(value))

        lines = ["<table>", "<tr>" + "".join(f"<th>{cell(h)}</th>" for h in header) + "</tr>"]
        lines += ["<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows]
        self.parts.append("\n".join(lines + ["</table>"]))

    def write(self, title: str) -> str:
        path = os.path.join(self.directory, "index.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                # an empty icon: the browser asks for none (a missing favicon is a console error)
                "<link rel=\"icon\" href=\"data:,\">\n"
                f"<title>{html.escape(title)}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
                f"<h1>{html.escape(title)}</h1>\n" + "\n".join(self.parts) + "\n</body>\n</html>\n"
            )
        return path


STYLE = """body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
"""


def _percent_rows(named_groups: Sequence[Tuple[str, dict]]) -> List[list]:
    return [[name, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], r["n"]] for name, r in named_groups]


def write_report(
    directory: str,
    results: dict,
    breakdown: PQBreakdown,
    load_pair: Callable[[str], ImagePair],
    photo_file: Optional[Callable[[str], Optional[str]]] = None,
    worst: int = DEFAULT_WORST_IMAGES,
    title: str = "Panoptic quality report",
) -> str:
    """Writes ``directory/index.html`` and its PNGs; returns the page's path.

    ``results``: panfpn_lite.pq's result dict with the breakdown's keys (``by_size``, ``boundary``,
    ``errors``); ``breakdown``: the PQBreakdown that made them (its per-image PQ and confusion
    counts); ``load_pair(image name)``: that image's maps and segments again, for the ``worst``
    images of lowest PQ; ``photo_file(image name)``: the path of its image file, or None (then
    the overlays show the segment maps alone).
    """
    page = _Page(directory)
    os.makedirs(directory, exist_ok=True)
    categories = breakdown.categories
    page.table(["", "PQ", "SQ", "RQ", "N"], _percent_rows([(g, results[g]) for g in GROUPS]))
    page.paragraph(f"{len(breakdown.image_pq)} images. Scores in percent; N: the categories averaged.")
    _per_category(page, results["per_class"], categories)
    _by_size(page, results)
    _errors(page, results)
    _confusion(page, breakdown.confusion, categories)
    _worst(page, breakdown, load_pair, photo_file, worst)
    return page.write(title)


def _per_category(page: _Page, per_class: dict, categories: Sequence[dict]) -> None:
    scored = [c for c in categories if sum(per_class[int(c["id"])][k] for k in ("tp", "fp", "fn"))]
    scored.sort(key=lambda c: (per_class[int(c["id"])]["pq"], c["name"]))
    page.heading("PQ per category")
    page.paragraph(f"{len(scored)} categories with a segment on either side, lowest PQ at the bottom; "
                   "things blue, stuff orange.")
    if not scored:
        return
    figure = page.figure(9, 1 + 0.22 * len(scored))
    axes = figure.add_subplot()
    rows = range(len(scored))
    axes.barh(rows, [100 * per_class[int(c["id"])]["pq"] for c in scored],
              color=["tab:blue" if c["isthing"] else "tab:orange" for c in scored])
    axes.set_yticks(list(rows), [c["name"] for c in scored], fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("PQ (%)")
    page.save(figure, "per_category.png", "PQ per category")


def _by_size(page: _Page, results: dict) -> None:
    page.heading("PQ by segment size, and boundary PQ")
    columns = [("overall", results), *results["by_size"].items(), ("boundary", results["boundary"])]
    figure = page.figure(9, 3.5)
    axes = figure.add_subplot()
    width = 0.8 / len(GROUPS)
    for offset, group in enumerate(GROUPS):
        axes.bar([i + (offset - 1) * width for i in range(len(columns))],
                 [100 * groups[group]["pq"] for _, groups in columns], width, label=group)
    axes.set_xticks(range(len(columns)), [name for name, _ in columns])
    axes.set_ylabel("PQ (%)")
    axes.set_ylim(0, 100)
    axes.legend()
    page.save(figure, "by_size.png", "PQ by segment size and boundary PQ")
    page.table(["", "PQ", "SQ", "RQ", "N"],
               _percent_rows([(f"{name} {group}", groups[group]) for name, groups in columns[1:] for group in GROUPS]))


def _errors(page: _Page, results: dict) -> None:
    errors = results["errors"]
    causes = errors["causes"]
    page.heading("Errors")
    page.paragraph("One cause per false negative (FN) and false positive (FP), and PQ with that kind of error fixed.")
    figure = page.figure(9, 3.5)
    counts_axes, gain_axes = figure.subplots(1, 2)
    positions = np.arange(len(causes))
    for offset, side in ((-0.2, "fn"), (0.2, "fp")):
        counts_axes.bar(positions + offset, [errors["counts"][c][side] for c in causes], 0.4, label=side.upper())
    counts_axes.set_xticks(positions, causes, rotation=30, ha="right")
    counts_axes.set_ylabel("segments")
    counts_axes.legend()
    gains = [100 * (errors["fixed"][c]["All"]["pq"] - results["All"]["pq"]) for c in causes]
    gain_axes.bar(positions, gains, color="tab:green")
    gain_axes.set_xticks(positions, causes, rotation=30, ha="right")
    gain_axes.set_ylabel("PQ gain if fixed (points)")
    page.save(figure, "errors.png", "error breakdown")
    page.table(["error", "FN", "FP", "PQ if fixed", "+PQ"], [
        [c, errors["counts"][c]["fn"], errors["counts"][c]["fp"], 100 * errors["fixed"][c]["All"]["pq"], gain]
        for c, gain in zip(causes, gains)])


def _confusion(page: _Page, confusion: dict, categories: Sequence[dict]) -> None:
    page.heading("Confusion")
    page.paragraph(
        "Each ground-truth segment (crowd regions left out) paired with the predicted segment it overlaps with "
        "IoU > 0.5, whatever the two categories; 'none': a segment with no such partner. The diagonal is PQ's "
        "true positives.")
    kinds = kind_confusion(confusion, categories)
    kind_names = ("thing", "stuff", None)
    page.table(["ground truth \\ prediction", "thing", "stuff", NONE_LABEL],
               [[gt or NONE_LABEL] + [kinds.get((gt, pred), "" if gt is pred is None else 0) for pred in kind_names]
                for gt in kind_names])
    axis, matrix = confusion_table(confusion, categories)
    if len(axis) == 1:
        page.paragraph("No segment is paired with another category or with none.")
        return
    names = {int(c["id"]): c["name"] for c in categories}
    labels = [NONE_LABEL if c is None else names[c] for c in axis]
    size = 2.5 + 0.28 * len(axis)
    figure = page.figure(size + 1.5, size)
    axes = figure.add_subplot()
    image = axes.imshow(np.log10(1 + matrix), cmap="Blues")
    ticks = range(len(axis))
    axes.set_xticks(ticks, labels, rotation=90, fontsize=8)
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_xlabel("predicted category")
    axes.set_ylabel("ground-truth category")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > math.sqrt(matrix.max()) else "black")
    figure.colorbar(image, ax=axes, label="log10(1 + segments)")
    shown = "" if len(axis) - 1 < MAX_CONFUSION_CATEGORIES else f" (the {MAX_CONFUSION_CATEGORIES} most confused)"
    page.paragraph(f"Categories with a segment paired with another category or with none{shown}.")
    page.save(figure, "confusion.png", "confusion matrix")


def _worst(page: _Page, breakdown: PQBreakdown, load_pair, photo_file, count: int) -> None:
    chosen = worst_images(breakdown.image_pq, count)
    page.heading(f"The {len(chosen)} images of lowest PQ")
    page.paragraph("Per-image PQ: over the categories with a segment in the image. Left ground truth, right "
                   "prediction; colours are categories (legend), dark lines segment edges, grey void.")
    from matplotlib.patches import Patch  # present: _Page checked matplotlib

    names = {int(c["id"]): c["name"] for c in breakdown.categories}
    for rank, (image_name, groups) in enumerate(chosen, start=1):
        gt_map, gt_segments, pred_map, pred_segments = load_pair(image_name)
        path = photo_file(image_name) if photo_file else None
        photo = read_photo(path, gt_map.shape) if path is not None and os.path.isfile(path) else None
        figure = page.figure(10, 10 * gt_map.shape[0] / (2 * gt_map.shape[1]) + 1.2)
        for axes, (label, id_map, segments) in zip(figure.subplots(1, 2), (
                ("ground truth", gt_map, gt_segments), ("prediction", pred_map, pred_segments))):
            axes.imshow(segment_overlay(id_map, segments, photo))
            axes.set_title(label)
            axes.axis("off")
        present = sorted({int(s["category_id"]) for s in [*gt_segments, *pred_segments]}, key=names.get)
        figure.legend(handles=[Patch(color=category_color(c) / 255, label=names[c]) for c in present],
                      loc="outside lower center", ncol=6, fontsize=8)
        figure.suptitle(f"{image_name}: PQ {100 * groups['pq']:.1f} over {groups['n']} categories")
        page.save(figure, f"worst_{rank}.png", f"image {image_name}")
        if path is not None and photo is None:
            page.paragraph(f"image file {path} not found: segment maps alone")
