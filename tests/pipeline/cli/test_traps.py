"""No silent no-op on a typo (issue 17): an unknown key is refused with or without ``+``, with the closest
valid keys; an internal schema or group is no choice; no message advises ``+key``; a file that is not an
``.npz`` archive is said to be what it is. Every refusal exits 2 and writes nothing."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.cli.precheck import precheck
from pipeline.core.paths import CONF_DIR
from pipeline.solve import job_task
from tests.pipeline.test_cli import run_cli, running_runs

#: what a refused command may leave in the project root: the input files the test wrote, nothing else
WRITTEN = ("outputs", "multirun", "run", "sweep", "results", ".cache", "mlflow.db", "mlartifacts")


def assert_refused(code: int, err: str, root: Path, key: str) -> None:
    """Exit status 2, one line naming ``key``, no advice to add a ``+``, and nothing written."""
    assert code == 2, err
    assert err.startswith(f"error: {key}:") and err.count("\n") == 1, err
    assert "Traceback" not in err and "+" + key not in err and "use +" not in err, err
    assert not [p for p in WRITTEN if (root / p).exists()], sorted(p.name for p in root.iterdir())


def refused(root: Path, capsys, argv: list[str], key: str) -> str:
    """Run the solve stage's front door on ``argv`` (output folders in ``root``), check that it refused
    the command naming ``key`` (:func:`assert_refused`); return its stderr."""
    code = main(job_task, argv=[*argv, f"hydra.run.dir={root}/run", f"hydra.sweep.dir={root}/sweep"])
    err = capsys.readouterr().err
    assert_refused(code, err, root, key)
    return err


#: an unknown key, with or without +, in one job and in a sweep: (overrides, key named, suggestion)
TYPOS = [
    (["data.kapa=30"], "data.kapa", "did you mean data.kappa?"),
    (["+data.kapa=30"], "data.kapa", "did you mean data.kappa?"),
    (["++data.kapa=30"], "data.kapa", "did you mean data.kappa?"),
    (["-m", "data.kapa=3,30"], "data.kapa", "did you mean data.kappa?"),
    (["-m", "+data.kapa=3,30"], "data.kapa", "did you mean data.kappa?"),
    (["+stop.eps_gird=[0.1]"], "stop.eps_gird", "did you mean stop.eps_grid?"),
    (["stop.max_iters=5"], "stop.max_iters", "did you mean stop.max_iter?"),
    (["+seeed=3"], "seeed", "did you mean seed?"),
    (["+kapa=30"], "kapa", "did you mean data.kappa?"),
    (["+study=p1_kappa", "study.fit_xmin=3"], "study.fit_xmin", "did you mean study.fit_x_min?"),
    (["stop.nonsense.deeper=1"], "stop.nonsense", "the keys of stop are eps, gtol"),
    # a key of another option of the group: the option that has it
    (["+data.path=x.npz"], "data.path", "did you mean data=attention_file or data=file, which have path?"),
    (["data.path=x.npz"], "data.path", "did you mean data=attention_file or data=file, which have path?"),
    (["solver=newton", "+solver.step=fixed"], "solver.step", "did you mean solver=gd or solver=gd_armijo"),
]


@pytest.mark.parametrize("argv,key,hint", TYPOS, ids=[" ".join(a) for a, _, _ in TYPOS])
def test_an_unknown_key_is_refused_with_or_without_plus(lab_root, capsys, argv, key, hint):
    assert hint in refused(lab_root, capsys, argv, key)


#: a choice of an internal schema or group, or of no option: (overrides, key named)
INTERNAL = [
    (["solver=gd_schema"], "solver"),
    (["data=file_schema", "data.path=x.npz"], "data"),
    (["problem=problem_schema"], "problem"),
    (["tracking=tracking_schema"], "tracking"),
    (["profile=profile_schema"], "profile"),
    (["+study=study_schema"], "study"),
    (["-m", "solver=gd,gd_schema"], "solver"),
    (["sizes=quick"], "sizes"),
    (["+sizes@profile.verify=full"], "sizes"),
    (["+study=p1_kapa"], "study"),
]


@pytest.mark.parametrize("argv,key", INTERNAL, ids=[" ".join(a) for a, _ in INTERNAL])
def test_an_internal_schema_or_group_is_no_choice(lab_root, capsys, argv, key):
    err = refused(lab_root, capsys, argv, key)
    if key == "sizes":
        assert "profile=ci, quick or full" in err
        return
    choices = err.partition("available: ")[2].strip().split(", ")
    assert choices == sorted(p.stem for p in (CONF_DIR / key).glob("*.yaml")), err


#: the other messages of Hydra that advised a +: said in the lab's words, still exit 2
PLUS_ADVICE = [
    (["+data.kappa=30"], "data.kappa", "is already a key of the config: set it with data.kappa=30"),
    (["study.y=loss"], "study.y", "study is null in this config"),  # was a traceback, exit 1
    (["+study=p1_kappa", "study.grid.ci.foo=1"], "study.grid.ci.foo", "unknown key; the keys of study.grid.ci are kappa, seed"),
]


@pytest.mark.parametrize("argv,key,text", PLUS_ADVICE, ids=[" ".join(a) for a, _, _ in PLUS_ADVICE])
def test_no_message_advises_a_plus(lab_root, capsys, argv, key, text):
    assert text in refused(lab_root, capsys, argv, key)


def test_a_study_named_without_plus_is_refused_with_the_studies(lab_root, capsys):
    code = main(job_task, argv=["study=p1_kappa", f"hydra.run.dir={lab_root}/run"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: study: the default config has no study") and "p1_kappa, p1_lipschitz" in err


def test_a_typo_from_a_real_process_exits_2_and_writes_nothing(lab_root, store_uri):
    """The issue's command: ``+data.kapa=30`` ran with the default κ and exited 0."""
    for plus in ("", "+"):
        r = run_cli(["pipeline", f"{plus}data.kapa=30", "data.n=30", "data.d=3"], lab_root)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr == "error: data.kapa: unknown key; did you mean data.kappa?\n"
    r = run_cli(["pipeline", "solver=gd_schema", "data.n=30", "data.d=3"], lab_root)
    assert r.returncode == 2 and r.stderr.startswith("error: solver: 'gd_schema' is an internal schema"), r.stderr
    assert not [p for p in WRITTEN if (lab_root / p).exists()] and running_runs(store_uri) == []


STUDIES = sorted(p.stem for p in (CONF_DIR / "study").glob("*.yaml"))


@pytest.mark.parametrize("study", STUDIES)
def test_the_plus_overrides_of_dvc_yaml_pass_the_precheck(lab_root, study):
    """dvc.yaml's sweep of every study (``-m +study=NAME profile=ci progress=false resume=false``): the keys
    that the study adds are declared, and every job of its grid is checked."""
    argv = ["-m", f"+study={study}", "profile=ci", "progress=false", "resume=false", "tracking=off"]
    assert precheck("config", argv) >= 1


LEGIT = [
    ["-m", "+study=p1_kappa", "profile=ci", "solver=gd,newton", "data.kappa=3,10,30", "seed=0"],
    ["+study=p1_lipschitz", "profile=ci", "study.grid.ci.n='20,200'"],
    ["+study=p1_nnz", "profile=ci", "study.fit_x_min=1000", "study.grid.ci.density='0.05,0.5'"],
    ["+study=p1_kappa", "+study.derived.z=iterations"],  # a Dict field takes new keys
    ["-m", "solver=gd", "data.n=30", "data.d=3", "seed=0,1,2"],
    ["data=file", "data.path=x.npz", "++data.cache=false"],
    ["-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.object_store_memory=null", "seed=0,1"],  # README
]


@pytest.mark.parametrize("argv", LEGIT, ids=[" ".join(a) for a in LEGIT])
def test_legitimate_overrides_and_sweeps_still_pass(lab_root, argv):
    assert precheck("config", [*argv, "tracking=off"]) >= 1


def not_npz(tmp: Path, kind: str) -> Path:
    """A file given as ``data.path`` that is not an .npz archive, of one kind."""
    p = tmp / f"{kind}.npz"
    if kind == "text":
        p.write_text("A,b,w\n1.0,0.2,1.0\n")
    elif kind == "npy":
        np.save(tmp / "npy.npy", np.ones((5, 2)))
        (tmp / "npy.npy").rename(p)
    elif kind == "pickle":
        p.write_bytes(pickle.dumps({"A": [[1.0]]}, protocol=4))
    elif kind == "binary":
        p.write_bytes(bytes(range(256)))
    return p


NOT_NPZ = [("text", "is not an .npz archive (it looks like a text file, starting 'A,b,w')"),
           ("npy", "is a single .npy array, not an .npz archive"),
           ("pickle", "is a Python pickle, not an .npz archive"),
           ("binary", "is not an .npz archive (unrecognised binary content")]


@pytest.mark.parametrize("kind,says", NOT_NPZ, ids=[k for k, _ in NOT_NPZ])
@pytest.mark.parametrize("data", [["data=file"], ["problem=attention_regression", "data=attention_file"]],
                         ids=["file", "attention_file"])
def test_a_file_that_is_not_npz_is_said_to_be_what_it_is(lab_root, capsys, kind, says, data):
    path = not_npz(lab_root, kind)
    err = refused(lab_root, capsys, [*data, f"data.path={path}"], "data.path")
    assert err.startswith(f"error: data.path: {path.name} {says}"), err
    assert "object (pickled) arrays" not in err


def test_a_text_file_from_a_real_process(lab_root, store_uri):
    path = not_npz(lab_root, "text")
    r = run_cli(["pipeline", "data=file", f"data.path={path}"], lab_root)
    assert r.returncode == 2
    assert r.stderr == "error: data.path: text.npz is not an .npz archive (it looks like a text file, starting 'A,b,w')\n"
    assert not [p for p in WRITTEN if (lab_root / p).exists()] and running_runs(store_uri) == []


def test_x0_problem_on_a_problem_without_its_own_initialisation_is_refused(lab_root, capsys):
    """``x0=problem`` starts from the problem's own W(0); P1's problem has none: exit 2 naming x0."""
    err = refused(lab_root, capsys, ["x0=problem"], "x0")
    assert "softmax_regression has none" in err and "x0=zeros" in err


def test_a_network_without_a_reference_optimum_asks_for_reference_method_none(lab_root, capsys):
    """E01's network has no reference optimum (Newton on 10⁴ weights would be refused mid-job): exit 2 naming
    reference.method before anything starts."""
    err = refused(lab_root, capsys, ["problem=softmax_network", "data=sphere_regression", "solver=gd", "x0=problem"],
                  "reference.method")
    assert "set reference.method=none" in err
