"""The Dask engine: score Parquet or CSV partitions on a Dask cluster, write partitioned Parquet.

``moderation score --engine dask [--scheduler ADDRESS]`` ends here. Each partition is turned
into canonical rows with the same code the local readers use (``ingest.tabular``), scored by
the same model on the worker, and written as one Parquet part, so a result is identical to
the local engine's for the same rows. Without ``--scheduler`` a LocalCluster on this machine
is used. Every worker must have the project and the model installed (``models/`` as here).

Limits, by design: CSV files are read one partition per file, because a quoted comment may
span lines and a byte-range split could cut it; reply links are resolved within a partition
only (use the local engine for threaded dumps whose replies cross partitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from moderation.errors import InputError, OutputError
from moderation.ingest.base import ReadOptions
from moderation.ingest.tabular import canonicalize, map_columns

__all__ = ["DaskSummary", "score_with_dask"]

_models: dict[str, object] = {}


@dataclass
class DaskSummary:
    rows_scored: int
    partitions: int
    model_version: str
    output: str

    def line(self) -> str:
        return (
            f"scored {self.rows_scored:,} rows in {self.partitions:,} partitions; "
            f"model {self.model_version}; wrote {self.output}"
        )


def _model(model_ref: str | None):
    # One model per worker process, loaded (and sha256-checked) on first use.
    key = model_ref or ""
    if key not in _models:
        from moderation.registry import load_model

        _models[key] = load_model(model_ref, for_scoring=True)
    return _models[key]


def _score_partition(
    partition: pd.DataFrame,
    *,
    text_column: str,
    model_ref: str | None,
    sources: dict[int, str],
    offsets: dict[int, int],
    partition_info: dict | None = None,
) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else 0
    start = offsets.get(number, 0) + 1
    source = sources.get(number, sources.get(0, ""))
    mapping = map_columns(list(partition.columns), ReadOptions(text_column=text_column), Path(source))
    records = list(range(start, start + len(partition)))
    canonical = canonicalize(partition.reset_index(drop=True), mapping, source=Path(source), records=records)
    from moderation.schema import canonical_frame

    canonical = canonical_frame(canonical)
    # Top-level comments without a thread are their own thread, as in the local engine.
    no_thread = canonical["thread_id"] == ""
    canonical.loc[no_thread, "thread_id"] = canonical.loc[no_thread, "comment_id"]
    scored = _model(model_ref).score_frame(canonical)
    return _stringify(scored)


def _stringify(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed column types so every partition has the same Parquet schema."""
    out = frame.copy()
    for column in out.columns:
        if column in ("insult_score", "troll_score"):
            out[column] = out[column].astype("float64")
        elif column in ("depth", "record"):
            out[column] = out[column].astype("int64")
        else:
            out[column] = out[column].astype("string")
    return out


def score_with_dask(
    inputs: list[str | Path],
    *,
    output: str | Path,
    scheduler: str | None = None,
    format: str = "auto",
    text_column: str | None = None,
    model_ref: str | None = None,
    workers: int = 2,
) -> DaskSummary:
    """Score Parquet or CSV ``inputs`` on a Dask cluster; write Parquet parts into ``output``."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    paths = [Path(p) for p in inputs]
    if not paths:
        raise InputError("no input files", hint="pass at least one Parquet or CSV file")
    kinds = {_kind(p, format) for p in paths}
    if len(kinds) != 1:
        raise InputError("mixes Parquet and CSV inputs", hint="score them in separate runs")
    kind = kinds.pop()
    output = Path(output)
    if output.suffix:
        raise OutputError(
            f"the Dask engine writes a folder of Parquet parts, not {output.name}",
            hint="give -o a folder name without an extension",
        )
    if output.exists() and any(output.iterdir()):
        raise OutputError(f"{output} is not empty", hint="choose a new folder or empty it first")

    if kind == "parquet":
        if len(paths) > 1:
            raise InputError(
                "the Dask engine reads one Parquet dataset at a time",
                hint="pass one Parquet file (its row groups become the partitions)",
            )
        frame = dd.read_parquet([str(p) for p in paths], split_row_groups=True)
    else:
        frame = dd.read_csv(
            [str(p) for p in paths], dtype=str, keep_default_na=False, blocksize=None, encoding="utf-8-sig"
        )
    mapping = map_columns(list(frame.columns), ReadOptions(text_column=text_column), paths[0])
    model = _model(model_ref)

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with Client(scheduler or cluster):  # type: ignore[arg-type]
        lengths = [int(n) for n in frame.map_partitions(len).compute()]
        # Records count from 1 in each file, as the local readers count them: a CSV file is
        # one partition; the partitions of a Parquet file follow each other.
        if kind == "csv":
            sources = {number: str(path) for number, path in enumerate(paths)}
            offsets = dict.fromkeys(range(len(lengths)), 0)
        else:
            sources = {number: str(paths[0]) for number in range(len(lengths))}
            offsets = {number: sum(lengths[:number]) for number in range(len(lengths))}
        running = sum(lengths)
        head = frame.get_partition(0).head(2, compute=True)
        meta = _score_partition(
            head, text_column=mapping.text, model_ref=model_ref, sources=sources, offsets={}
        ).iloc[:0]
        scored = frame.map_partitions(
            _score_partition,
            text_column=mapping.text,
            model_ref=model_ref,
            sources=sources,
            offsets=offsets,
            meta=meta,
        )
        scored.to_parquet(str(output), write_index=False, compute=True)
    if cluster is not None:
        cluster.close()
    return DaskSummary(
        rows_scored=running, partitions=len(offsets), model_version=model.version, output=str(output)
    )


def _kind(path: Path, format: str) -> str:
    if format in ("parquet", "csv"):
        return format
    if format != "auto":
        raise InputError(
            f"the Dask engine reads Parquet or CSV, not {format}", path=path, hint="use --engine local"
        )
    from moderation.ingest import detect_format

    detected = detect_format(path)
    if detected not in ("parquet", "csv"):
        raise InputError(
            f"the Dask engine reads Parquet or CSV, and this is {detected}",
            path=path,
            hint="use the local engine (the default) for this format",
        )
    return detected
