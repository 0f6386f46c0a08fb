"""Instances as data: the generators and file readers of every data kind, their config schemas, and
the content-addressed cache (:mod:`pipeline.data.cache`).

``raw_arrays(cfg)`` builds or loads the arrays of the instance that ``cfg.data`` describes, from
the run's ``seed``; nothing here solves anything (the reference optimum x* is computed above this
layer, in :mod:`pipeline.reference`). A data kind is one entry of :data:`KINDS`: its schema (the
config group ``data``'s ``<kind>_schema``) and the function that makes its arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from omegaconf import DictConfig

from pipeline.data.attention import AttentionData, AttentionFileData, load_attention, synthesize_p3
from pipeline.data.bounded_attention import BoundedAttentionData, synthesize_e07
from pipeline.data.io import FileData, load_instance, save_instance
from pipeline.data.kronecker import KroneckerData, synthesize_e06
from pipeline.data.leverage_target import LeverageTargetData, synthesize_e02
from pipeline.data.modular import ModularData, synthesize_e05
from pipeline.data.sphere import SphereData, synthesize_e01
from pipeline.data.synthetic import SyntheticData, synthesize_p1
from pipeline.data.two_layer import TwoLayerData, synthesize_e09
from pipeline.data.zo import FiniteSumData, LowRankData, finite_sum, lowrank


@dataclass(frozen=True)
class Kind:
    """One data kind: its config schema, how its arrays are made, and whether they come from a file
    (then the instance is identified by the file's bytes, not by the seed)."""

    schema: type
    make: Callable[[DictConfig, int], dict[str, np.ndarray]]
    from_file: bool = False


KINDS: dict[str, Kind] = {
    "synthetic": Kind(SyntheticData, synthesize_p1),
    "file": Kind(FileData, lambda c, seed: load_instance(c.path), from_file=True),
    "lowrank": Kind(LowRankData, lowrank),
    "finite_sum": Kind(FiniteSumData, finite_sum),
    "attention": Kind(AttentionData, synthesize_p3),
    "attention_file": Kind(AttentionFileData, lambda c, seed: load_attention(c), from_file=True),
    "bounded_attention": Kind(BoundedAttentionData, synthesize_e07),
    "two_layer": Kind(TwoLayerData, synthesize_e09),
    "leverage_target": Kind(LeverageTargetData, synthesize_e02),
    "kronecker": Kind(KroneckerData, synthesize_e06),
    "sphere_regression": Kind(SphereData, synthesize_e01),
    "modular": Kind(ModularData, synthesize_e05),
}
#: Data kinds read from a file: the instance key hashes the file's bytes instead of the seed.
FILE_KINDS = tuple(k for k, v in KINDS.items() if v.from_file)


def raw_arrays(cfg: DictConfig) -> dict[str, np.ndarray]:
    """The arrays of the instance of ``cfg.data`` (for a generator, drawn from ``cfg.seed``)."""
    return KINDS[str(cfg.data.kind)].make(cfg.data, int(cfg.seed))


def check_file(cfg: DictConfig) -> None:
    """Read and validate the instance file of a file kind (before any job starts); DataError if bad."""
    if KINDS[str(cfg.data.kind)].from_file:
        raw_arrays(cfg)


def store_schemas(cs) -> None:
    """Register every data kind's schema in Hydra's ConfigStore ``cs`` as ``data/<kind>_schema``."""
    for name, kind in KINDS.items():
        cs.store(group="data", name=f"{name}_schema", node=kind.schema)


__all__ = ["FILE_KINDS", "KINDS", "AttentionData", "AttentionFileData", "BoundedAttentionData", "FileData", "FiniteSumData", "Kind",
           "KroneckerData", "LeverageTargetData", "LowRankData", "ModularData", "SphereData", "synthesize_e01", "synthesize_e05", "TwoLayerData", "synthesize_e02", "synthesize_e06", "synthesize_e09", "SyntheticData", "check_file", "load_attention", "load_instance", "raw_arrays",
           "save_instance", "store_schemas", "synthesize_e07", "synthesize_p1", "synthesize_p3"]
