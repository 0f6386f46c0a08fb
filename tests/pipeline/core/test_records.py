"""A job's config hash (pipeline/core/records.py): what identifies a solve, and what does not."""
from omegaconf import OmegaConf

from pipeline.core.records import config_hash
from tests.conftest import compose


def test_the_papers_check_sizes_do_not_change_a_jobs_hash():
    """profile.verify holds every paper's check sizes; no solve reads them, so a new paper (or a changed size)
    leaves the hash, and hence the resume identity, of every study job alone."""
    cfg = compose(["solver=gd"])
    other = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    other.profile.verify = {"e99_sizes": [1, 2, 3]}
    assert config_hash(other) == config_hash(cfg)


def test_what_a_job_solves_changes_its_hash():
    base = config_hash(compose(["solver=gd"]))
    assert config_hash(compose(["solver=newton"])) != base
    assert config_hash(compose(["solver=gd", "data.n=300"])) != base
    assert config_hash(compose(["solver=gd", "seed=3"])) != base
    assert config_hash(compose(["solver=gd", "tracking=off", "progress=false"])) == base
