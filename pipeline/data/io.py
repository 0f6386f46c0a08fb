"""Reading and writing instances as ``.npz`` files, with strict validation.

An instance file holds float arrays ``A`` (n×d, n ≥ d ≥ 1), ``b`` (n) and ``w``
(n), all finite; a sparse A may instead be given by its CSR fields ``A_data``,
``A_indices``, ``A_indptr`` and ``A_shape``. It may also hold the solution ``x_star``
(or ``x_true``) that ``python -m pipeline.synthesize`` writes; any other array is refused, since
a misspelt field would otherwise be silently ignored. Object arrays are never loaded
(``allow_pickle=False``).
"""
from __future__ import annotations

import codecs
import contextlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import MISSING

from pipeline.core.errors import DataError
from pipeline.core.spec import spec
from pipeline.data.matrix import SPARSE_FIELDS, from_fields, is_sparse

@dataclass
class FileData:
    """An external instance: an ``.npz`` file with arrays A (n×d), b (n) and w (n)."""

    kind: str = spec("file", choices=("file",))
    path: str = MISSING
    cache: bool = True


REQUIRED = ("A", "b", "w")
#: arrays an instance file may hold besides its fields: the solution written with it
SOLUTIONS = ("x_star", "x_true")


#: the first bytes of a zip archive (an ``.npz`` is one): a local file header, or an empty archive's end record
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


def not_npz(head: bytes) -> str | None:
    """What a file is when its first bytes ``head`` are not those of an ``.npz`` (zip) archive, in words;
    None when they are."""
    if head.startswith(ZIP_MAGIC):
        return None
    if not head:
        return "is empty (0 bytes), not an .npz archive"
    if head.startswith(NPY_MAGIC):
        return "is a single .npy array, not an .npz archive (write the arrays together with numpy.savez)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "is a Python pickle, not an .npz archive (pickles are never loaded)"
    try:  # not final: a character cut at the end of ``head`` is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"is not an .npz archive (it looks like a text file{f', starting {first!r}' if first else ''})"
    return f"is not an .npz archive (unrecognised binary content, starting {head[:8]!r})"


@contextlib.contextmanager
def open_npz(path: str | os.PathLike, key_prefix: str = "data.path"):
    """Open an ``.npz`` file without unpickling; every failure to read it becomes a DataError on
    ``key_prefix`` (a DataError raised inside the block passes through). A file that is not a zip archive
    at all (text, a single ``.npy`` array, a pickle, empty) is refused by its first bytes, saying what it is."""
    p = Path(path)
    if not p.is_file():
        raise DataError(key_prefix, f"file not found: {str(path)!r}")
    with open(p, "rb") as fh:
        what = not_npz(fh.read(512))
    if what is not None:
        raise DataError(key_prefix, f"{p.name} {what}")
    try:
        with np.load(p, allow_pickle=False) as z:
            yield z
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(key_prefix, f"{p.name} holds object (pickled) arrays, which are never loaded") from None
        raise DataError(key_prefix, f"{p.name} is not a readable npz file ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(key_prefix, f"{p.name} is not an npz file ({type(exc).__name__}: {exc})") from None


def require(z, names: tuple[str, ...], key_prefix: str, path: str | os.PathLike,
            optional: tuple[str, ...] = ()) -> None:
    """Refuse a file that lacks one of ``names`` or holds an array that is neither in ``names`` nor
    in ``optional``, naming the first such field."""
    keys = set(z.files)
    missing = [k for k in names if k not in keys]
    if missing:
        raise DataError(f"{key_prefix}:{missing[0]}",
                        f"missing array {missing[0]!r} in {Path(path).name} (has {sorted(keys)}; needs {', '.join(names)})")
    extra = sorted(keys - set(names) - set(optional))
    if extra:
        allowed = ", ".join((*names, *optional))
        raise DataError(f"{key_prefix}:{extra[0]}", f"unknown array {extra[0]!r} in {Path(path).name} (allowed: {allowed})")


def check_real_finite(arrays: dict, key_prefix: str) -> None:
    """Every array real, non-empty and finite (sparse: its stored values)."""
    for k, v in arrays.items():
        a = v.data if is_sparse(v) else v
        if a.dtype.kind not in "fiu" or a.dtype == bool:
            raise DataError(f"{key_prefix}:{k}", f"must be a real numeric array, got dtype {a.dtype}")
        if a.size == 0:
            raise DataError(f"{key_prefix}:{k}", "is empty")
        if not np.all(np.isfinite(a)):
            raise DataError(f"{key_prefix}:{k}", f"holds {int(np.sum(~np.isfinite(a)))} NaN/Inf entries")


def load_instance(path: str | os.PathLike, key_prefix: str = "data.path") -> dict[str, np.ndarray]:
    """Load and validate A, b, w; raise DataError naming the file field at fault."""
    with open_npz(path, key_prefix) as z:
        keys = set(z.files)
        sparse = "A" not in keys and all(k in keys for k in SPARSE_FIELDS)
        if sparse:
            require(z, (*REQUIRED[1:], *SPARSE_FIELDS), key_prefix, path, SOLUTIONS)
        else:
            require(z, REQUIRED, key_prefix, path, SOLUTIONS)
        arrays = {k: z[k] for k in ("b", "w")}
        if sparse:
            for k in SPARSE_FIELDS:
                if z[k].dtype.kind not in "fiu":
                    raise DataError(f"{key_prefix}:{k}", f"must be numeric, got dtype {z[k].dtype}")
            try:
                arrays["A"] = from_fields(z)
            except ValueError as exc:
                raise DataError(f"{key_prefix}:A_indptr", f"inconsistent CSR fields ({exc})") from None
        else:
            arrays["A"] = z["A"]
    check_instance(arrays, key_prefix)
    return {k: (v.astype(np.float64) if is_sparse(v) else np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}


def check_instance(arrays: dict[str, np.ndarray], key_prefix: str = "data") -> None:
    """Shapes, dtypes and finiteness of A, b, w."""
    check_real_finite({k: arrays[k] for k in REQUIRED}, key_prefix)
    A, b, w = arrays["A"], arrays["b"], arrays["w"]
    if A.ndim != 2:
        raise DataError(f"{key_prefix}:A", f"must be 2-D (n×d), got shape {A.shape}")
    n, d = A.shape
    if n < d:
        raise DataError(f"{key_prefix}:A", f"needs n ≥ d, got shape {A.shape}")
    for k, v in (("b", b), ("w", w)):
        if v.shape != (n,):
            raise DataError(f"{key_prefix}:{k}", f"must have shape ({n},) to match A {A.shape}, got {v.shape}")


def save_instance(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an instance atomically (temporary file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, p)
