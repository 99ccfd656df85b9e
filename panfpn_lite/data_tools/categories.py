"""Category tables: reading them (COCO JSON or CSV), their problems, and the class counts a model needs."""
import csv
import json
import re
from types import SimpleNamespace
from typing import Dict, List, Sequence

from ..panoptic_format import category_metadata
from ..semantic_layout import THING_MODES, SemanticLabelLayout

TRUE_WORDS = {"1", "true", "yes", "thing"}
FALSE_WORDS = {"0", "false", "no", "stuff"}


def category_problems(categories: Sequence, source: str) -> List[str]:
    """Every problem of a COCO "categories" list, each naming ``source`` and the category."""
    problems = []
    seen = set()
    for position, category in enumerate(categories):
        if not isinstance(category, dict):
            problems.append(f"{source}: category #{position} is {category!r}, not an object")
            continue
        label = f"category #{position} (id {category.get('id')!r}, name {category.get('name')!r})"
        for key in ("id", "name", "isthing"):
            if key not in category:
                problems.append(f"{source}: {label} has no '{key}'")
        if "id" in category:
            if not isinstance(category["id"], int) or isinstance(category["id"], bool):
                problems.append(f"{source}: {label} has a non-integer id")
            elif category["id"] in seen:
                problems.append(f"{source}: category id {category['id']} appears more than once")
            seen.add(category["id"])
        if "isthing" in category and category["isthing"] not in (0, 1):
            problems.append(f"{source}: {label} has isthing {category['isthing']!r}; expected 0 or 1")
    if not categories:
        problems.append(f"{source}: lists no categories")
    return problems


def _parse_color(text: str, source: str, row: int) -> List[int]:
    text = text.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return [int(text[i:i + 2], 16) for i in (1, 3, 5)]
    parts = [p for p in re.split(r"[\s,;]+", text) if p]
    if len(parts) == 3 and all(p.isdigit() and int(p) < 256 for p in parts):
        return [int(p) for p in parts]
    raise ValueError(f"{source}: row {row}: color {text!r} is neither '#rrggbb' nor 'R G B' (0-255)")


def _parse_isthing(text: str, source: str, row: int) -> int:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return 1
    if word in FALSE_WORDS:
        return 0
    raise ValueError(f"{source}: row {row}: isthing {text!r} is not one of 0, 1, true, false, yes, no")


def _read_csv(path: str) -> List[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    categories = []
    for row_number, row in enumerate(rows, start=2):  # the header is row 1
        missing = [k for k in ("id", "name", "isthing") if not (row.get(k) or "").strip()]
        if missing:
            raise ValueError(f"{path}: row {row_number} has no {', '.join(missing)} (columns: id, name, isthing, color)")
        if not row["id"].strip().lstrip("-").isdigit():
            raise ValueError(f"{path}: row {row_number}: id {row['id']!r} is not an integer")
        category = {
            "id": int(row["id"]),
            "name": row["name"].strip(),
            "isthing": _parse_isthing(row["isthing"], path, row_number),
        }
        if (row.get("color") or "").strip():
            category["color"] = _parse_color(row["color"], path, row_number)
        categories.append(category)
    return categories


def read_category_table(path: str) -> List[dict]:
    """The COCO categories of a JSON (a list, or an object with "categories") or CSV file
    (header ``id,name,isthing[,color]``; colour ``#rrggbb`` or ``R G B``); ValueError naming the
    file and entry of every problem."""
    try:
        if path.lower().endswith(".csv"):
            categories = _read_csv(path)
        else:
            with open(path) as f:
                content = json.load(f)
            categories = content.get("categories") if isinstance(content, dict) else content
            if not isinstance(categories, list):
                raise ValueError(f"{path}: neither a list of categories nor an object with 'categories'")
    except FileNotFoundError:
        raise FileNotFoundError(f"category table {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"category table {path} cannot be read: {e}") from e
    problems = category_problems(categories, path)
    if problems:
        raise ValueError("\n".join(problems))
    return categories


def config_keys(categories: Sequence[dict]) -> Dict[str, Dict[str, int]]:
    """Per thing mode (MODEL.PANFPN.SEM_SEG_THING_MODE), the class counts a model of these categories needs."""
    metadata = SimpleNamespace(name="", **category_metadata(categories))
    return {
        mode: {
            "MODEL.ROI_HEADS.NUM_CLASSES": len(metadata.thing_classes),
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES": SemanticLabelLayout.from_metadata(metadata, mode).num_classes,
        }
        for mode in THING_MODES
    }
