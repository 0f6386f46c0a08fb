"""``python -m pipeline.synthesize [data overrides]``: build an instance and its reference optimum.

The instance is stored in the content-addressed cache (``.cache/instances``)
that every solver of a sweep reads; ``instance.npz`` (A — or its CSR fields
A_data, A_indices, A_indptr, A_shape when sparse — b, w, x_star) and
``instance.json`` (measured constants) are also written to the run folder, so
that ``data=file data.path=.../instance.npz`` reloads it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from pipeline.cli import main as front_door
from pipeline.core.paths import project_root
from pipeline.core.records import write_json
from pipeline.data import matrix, save_instance
from pipeline.reference import build_instance


def synthesize(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    inst = build_instance(cfg, Path(project_root()) / ".cache" / "instances")
    out = Path(HydraConfig.get().runtime.output_dir)
    fields = {k: v for k, v in inst.arrays.items() if k != "A"} | matrix.to_fields(inst.arrays["A"])
    save_instance(out / "instance.npz", x_star=inst.x_star, **fields)
    write_json(out / "instance.json", {"key": inst.key, "f_star": inst.f_star, "constants": inst.constants})
    c = inst.constants
    print(f"instance {inst.key}: n={int(c['n'])} d={int(c['d'])} κ(A)={c['A_kappa']:.4g} "
          f"κ(∇²L(x*))={c['kappa']:.4g} ℓ={c['ell']:.4g} μ={c['mu']:.4g} "
          f"effective rank={c['effective_rank']:.3g} -> {out / 'instance.npz'}")
    return c


def main() -> None:
    sys.exit(front_door(synthesize))


if __name__ == "__main__":
    main()
