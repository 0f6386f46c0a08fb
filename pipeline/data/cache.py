"""The content-addressed instance cache: ``<cache_dir>/<key>.npz`` holds an instance's arrays, its
reference optimum ``x_star`` and a JSON ``meta`` record; the key is computed by the caller
(:func:`pipeline.reference.instance_key`). Writes are atomic, so parallel workers may share it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from pipeline.data import matrix
from pipeline.data.io import save_instance


def read(path: Path) -> Optional[tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]]:
    """(arrays, x_star, meta) of a cached instance, or None when ``path`` is not there."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in ("x_star", "meta", *matrix.SPARSE_FIELDS)}
        if "A" in z.files or "A_data" in z.files:
            arrays["A"] = matrix.from_fields(z)
        return arrays, z["x_star"], json.loads(str(z["meta"]))


def write(path: Path, arrays: dict[str, np.ndarray], x_star: np.ndarray, meta: dict[str, Any]) -> None:
    """Store an instance (a sparse A as its CSR fields) with its x* and meta record."""
    blob = json.dumps(meta, sort_keys=True)
    fields = {k: v for k, v in arrays.items() if k != "A"} | (matrix.to_fields(arrays["A"]) if "A" in arrays else {})
    save_instance(path, x_star=x_star, meta=np.array(blob), **fields)
