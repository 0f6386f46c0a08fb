"""What a user may choose on the command line: the config groups and their options, the studies with
their titles, and which option of a group declares a key.

The choices are the YAML files of ``conf/`` (and, for ``study``, the study folders that papers outside
the lab bring). The schemas that the front door registers in Hydra's ConfigStore (``gd_schema``,
``file_schema``, ...) and the groups that exist only there (``sizes``, chosen by each profile file) are
internal: they are neither listed by ``--help`` nor accepted as choices (:mod:`pipeline.cli.precheck`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from pipeline import papers
from pipeline.core.paths import CONF_DIR

#: the suffix of the ConfigStore schemas that the group options name in their defaults list
SCHEMA_SUFFIX = "_schema"
#: what a user chooses instead of an internal group (one that exists only in the ConfigStore)
INSTEAD = {"sizes": "the verify sizes come with the profile: choose profile=ci, quick or full"}


def groups() -> list[str]:
    """The config groups a user chooses from: the folders of ``conf/`` that hold options."""
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def internal_groups() -> dict[str, str]:
    """The groups that exist only in Hydra's ConfigStore (registered by the front door, e.g. ``sizes``,
    which each profile file chooses), with what a user chooses instead."""
    from hydra.core.config_store import ConfigStore

    mine = set(groups()) | {"hydra"}
    stored = {k for k, v in ConfigStore.instance().repo.items() if isinstance(v, dict) and k not in mine}
    return {g: INSTEAD.get(g, f"the config groups are {', '.join(groups())}") for g in sorted(stored | set(INSTEAD))}


def group_dirs(group: str) -> list[Path]:
    """The folders that hold the options of ``group``: ``conf/<group>``, and for ``study`` the study
    folders of the papers outside the lab."""
    return [CONF_DIR / group] + (papers.study_dirs() if group == "study" else [])


def options(group: str) -> list[str]:
    """The options of ``group`` a user may choose, sorted (internal schemas left out)."""
    names = {p.stem for d in group_dirs(group) if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(n for n in names if not is_internal(n))


def is_internal(option: str) -> bool:
    """Whether an option name is one of the ConfigStore's schemas, which no user chooses."""
    return option.endswith(SCHEMA_SUFFIX)


def option_file(group: str, option: str) -> Optional[Path]:
    """The YAML file of one option of ``group`` (None if there is none)."""
    return next((d / f"{option}.yaml" for d in group_dirs(group) if (d / f"{option}.yaml").is_file()), None)


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    return doc if isinstance(doc, dict) else {}


def defaults() -> dict[str, str]:
    """The option of each group that the primary config (``conf/config.yaml``) chooses."""
    out = {}
    for item in _load(CONF_DIR / "config.yaml").get("defaults", []):
        if isinstance(item, dict):
            out.update({str(k): str(v) for k, v in item.items()})
    return out


def studies() -> list[tuple[str, str]]:
    """Every study a user may add (``+study=NAME``), with its title, sorted by name."""
    out = []
    for name in options("study"):
        path = option_file("study", name)
        study = _load(path).get("study") if path else None
        out.append((name, str(study.get("title", "")) if isinstance(study, dict) else ""))
    return out


def declared_keys(group: str, option: str, _seen: tuple[str, ...] = ()) -> set[str]:
    """The keys that option ``option`` of ``group`` has: those of the schema or option its defaults list
    names (the ConfigStore's ``<name>_schema``, or another option it presets), and its own."""
    from hydra.core.config_store import ConfigStore

    path = option_file(group, option)
    if path is None or option in _seen:
        return set()
    doc = _load(path)
    keys = {str(k) for k in doc if k != "defaults"}
    for item in doc.get("defaults", []):
        if not isinstance(item, str) or item == "_self_":
            continue
        if is_internal(item):
            node = ConfigStore.instance().repo.get(group, {}).get(f"{item}.yaml")
            keys |= {str(k) for k in getattr(node, "node", None) or {}}
        else:
            keys |= declared_keys(group, item, (*_seen, option))
    return keys


def options_declaring(group: str, key: str) -> list[str]:
    """The options of ``group`` whose config has the top-level key ``key`` (e.g. data, path -> file,
    attention_file)."""
    return [o for o in options(group) if key in declared_keys(group, o)]


__all__ = ["INSTEAD", "SCHEMA_SUFFIX", "declared_keys", "defaults", "group_dirs", "groups", "internal_groups",
           "is_internal", "option_file", "options", "options_declaring", "studies"]
