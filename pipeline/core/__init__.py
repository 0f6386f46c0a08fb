"""The bottom of the orchestration wing: errors and exit statuses, the field-spec helper and
validation, the config schema of the run itself, project paths, sweep grids, files of record, fits
and the tracking-sink protocol. Nothing here imports another layer of the project or torch
(docs/architecture.md; enforced by ``lint-imports``)."""
