"""The ``moderation`` command: a thin typer layer over the library functions.

Each command parses its options, calls one library function, and prints a summary. Errors
the user can cause (``ModerationError``) are caught here, at the boundary, and printed as
one line with the fix; they exit with code 1 and no traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from moderation import __version__, config
from moderation.errors import ModerationError

if TYPE_CHECKING:
    from moderation.store import Store

app = typer.Typer(
    name="moderation",
    help="Self-hosted comment moderation: read dumps, score insult and trolling, review.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FORMAT_HELP = "auto (sniff the content), csv, tsv, jsonl, parquet, disqus, wxr, reddit, toxichat or page"

InputsArg = Annotated[list[Path], typer.Argument(help="dump files to read", show_default=False)]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)]
TextColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--text-column",
        help="the column holding the comment text (name, or 1-based position for a file without a header)",
    ),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="text encoding when it is not UTF-8 (default: detect)")
]
PingbacksOpt = Annotated[
    bool, typer.Option("--include-pingbacks", help="keep WordPress pingbacks and trackbacks as comments")
]


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        _echo_err(f"warning: {warning}")


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit


@app.command()
def read(
    inputs: InputsArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the rows: .csv, .jsonl or .parquet")
    ],
    format: FormatOpt = "auto",
    text_column: TextColumnOpt = None,
    encoding: EncodingOpt = None,
    include_pingbacks: PingbacksOpt = False,
) -> None:
    """Write the canonical comment rows of INPUT files (no model involved), plus a rejects file."""
    from moderation.ingest import ReadReport, RejectsSink, read_comments, rejects_path_for
    from moderation.output import FrameWriter, check_output_paths

    report = ReadReport()
    rejects_path = rejects_path_for(output)
    check_output_paths(inputs, {"output": output, "rejects file": rejects_path})
    with RejectsSink(rejects_path) as rejects, FrameWriter(output) as writer:
        for frame in read_comments(
            inputs,
            format=format,
            text_column=text_column,
            encoding=encoding,
            include_pingbacks=include_pingbacks,
            rejects=rejects,
            report=report,
        ):
            writer.write(frame)
    _print_warnings(report.warnings)
    rejected = f", rejected {report.rejected:,} (see {rejects_path})" if report.rejected else ", rejected 0"
    typer.echo(f"read {report.rows:,} rows from {report.files:,} file(s) into {output}{rejected}")


@app.command()
def score(
    inputs: InputsArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the scored rows: .csv, .jsonl or .parquet")
    ],
    format: FormatOpt = "auto",
    text_column: TextColumnOpt = None,
    encoding: EncodingOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="model version or path (default: the active model)")
    ] = None,
    threads: Annotated[
        Path | None, typer.Option("--threads", help="also write thread risk roll-ups to this file")
    ] = None,
    authors: Annotated[
        Path | None, typer.Option("--authors", help="also write author risk roll-ups to this file")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="worker processes for scoring")] = 1,
    include_pingbacks: PingbacksOpt = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue an interrupted run of the same command")
    ] = False,
    chunk_rows: Annotated[
        int | None, typer.Option("--chunk-rows", help="rows per frame (memory per worker; default 20,000)")
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local (streaming, the default) or dask (Parquet/CSV partitions)")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster)")
    ] = None,
) -> None:
    """Score every comment of INPUT files for insult and trolling; no database needed."""
    from moderation.scoring import keep_freed_memory, score_files

    if engine == "dask":
        from moderation.distributed import score_with_dask

        typer.echo(
            score_with_dask(
                inputs,
                output=output,
                scheduler=scheduler,
                format=format,
                text_column=text_column,
                model_ref=model,
                workers=max(jobs, 1),
            ).line()
        )
        return
    if engine != "local":
        raise ModerationError(f"unknown engine {engine!r}", hint="use --engine local or --engine dask")

    keep_freed_memory()
    with _progress("scoring") as advance:
        summary = score_files(
            inputs,
            output=output,
            format=format,
            text_column=text_column,
            encoding=encoding,
            model_ref=model,
            threads_output=threads,
            authors_output=authors,
            jobs=jobs,
            include_pingbacks=include_pingbacks,
            resume=resume,
            chunk_rows=chunk_rows,
            on_progress=advance,
        )
    _print_warnings(summary.warnings)
    for extra in (summary.threads_path, summary.authors_path):
        if extra:
            typer.echo(f"wrote {extra}")
    typer.echo(summary.line())


# --- the store: ingest, rescore, users, export (moderation.store / moderation.review) -------------

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="database URL or SQLite file (default: $MODERATION_DB, else ./moderation.db)"),
]


@app.command()
def ingest(
    inputs: InputsArg,
    format: FormatOpt = "auto",
    db: DbOpt = None,
    text_column: TextColumnOpt = None,
    encoding: EncodingOpt = None,
    include_pingbacks: PingbacksOpt = False,
    model: Annotated[
        str | None, typer.Option("--model", help="model version or path (default: the active model)")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="where to write rejected rows (default: ./FIRST_INPUT.rejects.jsonl)"),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="worker processes for scoring (the store gets the same rows)")
    ] = 1,
) -> None:
    """Load INPUT dumps into the store and score them; running it again adds nothing new."""
    from moderation.scoring import keep_freed_memory
    from moderation.store import ingest_files, open_store

    keep_freed_memory()
    with open_store(db) as store, _progress("ingesting") as advance:
        summary = ingest_files(
            store,
            inputs,
            format=format,
            text_column=text_column,
            encoding=encoding,
            include_pingbacks=include_pingbacks,
            model_ref=model,
            rejects_path=rejects,
            jobs=jobs,
            on_progress=advance,
        )
    _print_warnings(summary.warnings)
    typer.echo(summary.line())


@app.command()
def rescore(
    db: DbOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="model version or path (default: the active model)")
    ] = None,
) -> None:
    """Score every stored comment with the active model (earlier models' scores are kept)."""
    from moderation.scoring import keep_freed_memory
    from moderation.store import open_store
    from moderation.store import rescore as rescore_store

    keep_freed_memory()
    with open_store(db) as store, _progress("rescoring") as advance:
        done = rescore_store(store, model_ref=model, on_progress=advance)
    typer.echo(f"rescored {done:,} comments")


users_app = typer.Typer(help="Add and list the moderators and admins of the store.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name (letters, digits, '.', '_', '-')")],
    role: Annotated[str, typer.Option("--role", help="moderator or admin")] = "moderator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Add a user (or reset their password and role). The password is stored only as an argon2 hash."""
    from moderation.review import add_user
    from moderation.store import open_store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_store(db) as store:
        user = add_user(store, name=name, password=password, role=role)
    typer.echo(f"user {user.name} is a {user.role}")


@users_app.command("list")
def users_list(db: DbOpt = None) -> None:
    """List users and their roles."""
    from moderation.review import list_users
    from moderation.store import open_store

    with open_store(db) as store:
        frame = list_users(store)
    for row in frame.itertuples(index=False):
        typer.echo(
            f"{row.name:24s} {row.role:10s} since {row.created_at}{'  (disabled)' if row.disabled else ''}"
        )


@app.command()
def export(
    what: Annotated[str, typer.Argument(help="labels, decisions or audit")],
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write: .csv, .jsonl or .parquet")],
    db: DbOpt = None,
) -> None:
    """Export the moderators' labels, decisions or the audit log (CSV cells are formula-safe)."""
    from moderation.review import export as export_rows
    from moderation.store import open_store

    with open_store(db) as store:
        count = export_rows(store, what, output)
    typer.echo(f"wrote {count:,} rows to {output}")


# --- models: train, evaluate, registry (moderation.training / evaluate / registry) ------------


@app.command()
def train(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="training corpora: default, all (adds non-commercial ELF24), or names with +/- "
            "(e.g. default,+elf24,-cyber_trolls); see 'moderation models show' for the list",
        ),
    ] = "default",
    output: Annotated[
        Path | None, typer.Option("--output", help="models directory to write into (default: models/)")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="version name (default: date-datahash)")
    ] = None,
    promote_after: Annotated[
        bool, typer.Option("--promote", help="make the new model the active one")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option("--db", help="also train on the moderators' labels in this store (URL or SQLite file)"),
    ] = None,
    label_weight: Annotated[
        float, typer.Option("--label-weight", help="weight of a moderator's label against a corpus row's 1.0")
    ] = config.MODERATOR_LABEL_WEIGHT,
    target_precision: Annotated[
        float,
        typer.Option(
            "--target-precision",
            min=0.01,
            max=1.0,
            help="with --db: each label's threshold is the lowest reaching this precision on the "
            "moderators' labels (when they hold enough of both classes)",
        ),
    ] = config.TARGET_PRECISION,
    teacher: Annotated[
        bool,
        typer.Option(
            "--teacher/--no-teacher",
            help="fit the insult head on the teacher's soft targets (moderation.distill); "
            "--no-teacher trains on the labels alone, faster",
        ),
    ] = True,
    teacher_table: Annotated[
        str | None,
        typer.Option(
            "--teacher-table",
            metavar="NAME",
            help="the teacher's table to learn from (moderation.distill.TEACHER_TABLES; "
            "default: the one the default model learnt from)",
        ),
    ] = None,
) -> None:
    """Train a candidate model from ../shared/data and write it under models/<version>/ with its card."""
    from moderation.distill import TEACHER_TABLES
    from moderation.registry import save_model
    from moderation.training import DEFAULT_PARAMS, train_model

    params = None if teacher else {"distillation": None}
    if teacher_table is not None:
        if not teacher:
            raise ModerationError(
                "--teacher-table names a teacher, and --no-teacher trains without one",
                hint="drop one of the two",
            )
        if teacher_table not in TEACHER_TABLES:
            raise ModerationError(
                f"unknown teacher table {teacher_table!r}",
                hint="use --teacher-table " + " or --teacher-table ".join(TEACHER_TABLES),
            )
        params = {"distillation": {**DEFAULT_PARAMS["distillation"], "teacher": teacher_table}}
    extra = None
    if db is not None:
        from moderation.review import moderator_labels
        from moderation.store import open_store

        with open_store(db) as store:
            extra = moderator_labels(store, weight=label_weight)
        typer.echo(f"{len(extra):,} comments labelled by moderators join the training data")
    model = train_model(
        data=data,
        version=version,
        extra=extra,
        target_precision=target_precision,
        params=params,
        progress=lambda stage: typer.echo(config.STAGE_PREFIX + stage),
    )
    typer.echo(config.STAGE_PREFIX + "saving")
    folder = save_model(model, models_dir=output)
    for name, figures in model.card.get("metrics", {}).items():
        auc = figures.get("auc")
        typer.echo(
            f"{name:28s} {figures['label']:6s} n={figures['n']:5d} "
            f"auc={'-' if auc is None else f'{auc:.4f}'} f1={figures['f1']:.3f} ece={figures['ece']:.3f}"
        )
    evaluation = model.card["evaluation_set"]
    typer.echo(
        f"evaluation set: {evaluation['rows']:,} rows ({evaluation['moderator_rows']:,} held-out "
        f"moderators' labels), sha256 {evaluation['sha256'][:16]}"
    )
    for label, chosen in model.card["site_thresholds"].items():
        if chosen["applied"]:
            typer.echo(
                f"{label} threshold {chosen['threshold']:.4f} (95% CI {chosen['threshold_low']:.4f}"
                f"-{chosen['threshold_high']:.4f}): precision {chosen['precision']:.3f}, recall "
                f"{chosen['recall']:.3f} on {chosen['n']:,} moderators' labels"
            )
        else:
            typer.echo(f"{label} threshold {model.thresholds[label]:.4f}: {chosen['why']}")
    for label, calibrated in model.card["site_calibration"].items():
        if calibrated.get("heldout_ece_after") is not None:
            typer.echo(
                f"{label} scores recalibrated to {calibrated['rows']:,} moderators' labels: ECE on "
                f"{calibrated['heldout_rows']:,} held-out labels {calibrated['heldout_ece_before']:.3f} -> "
                f"{calibrated['heldout_ece_after']:.3f}"
            )
        elif not calibrated["applied"]:
            typer.echo(f"{label} scores: {calibrated['why']}")
    typer.echo(f"wrote {folder} ({model.card['files']['model.joblib']['bytes'] / 1e6:.1f} MB)")
    if promote_after:
        _promote_through_gate(model.version, db=db, force=False, models_dir=output)


@app.command("label-issues")
def label_issues_command(
    db: DbOpt = None,
    label: Annotated[
        str, typer.Option("--label", help="which labels to check: insult, troll or both")
    ] = "both",
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="public corpora to judge the moderators' labels against (as for train), "
            "or none for the moderators' labels alone",
        ),
    ] = "none",
    top: Annotated[
        int, typer.Option("--top", help="how many suspects to print")
    ] = config.LABEL_ISSUE_PRINTED,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="also write every suspect to this .csv, .jsonl or .parquet"),
    ] = None,
) -> None:
    """List the likely mislabels (cleanlab) among the moderators' labels and the corpora of --data;
    the dashboard's Label issues page shows them as a review queue."""
    from contextlib import nullcontext

    from moderation.label_issues import SUSPECT_COLUMNS, resolve_labels, store_label_issues
    from moderation.output import FrameWriter
    from moderation.store import open_store

    resolve_labels(label)  # a wrong --label or -o fails before the corpora are read
    with (
        FrameWriter(output) if output is not None else nullcontext() as writer,
        open_store(db) as store,
    ):
        suspects = store_label_issues(store, label=label, data=data)
        if writer is not None:
            writer.write(suspects[list(SUSPECT_COLUMNS)])
    ours = suspects[suspects["comment_id"] != ""]  # only the moderators' labels keep their comment
    typer.echo(
        f"{len(suspects):,} suspects ({len(ours):,} among the moderators' labels); "
        "moderators' labels first, then by rank"
    )
    for row in suspects.head(max(top, 0)).itertuples(index=False):
        where = row.comment_id or row.corpus
        text = " ".join(str(row.text).split())
        text = text[:60] + "…" if len(text) > 60 else text
        typer.echo(
            f"{row.rank:6d} {row.label:6s} {row.given:>3s}->{row.suggested:3s} "
            f"p={row.self_confidence:.3f} {where[:24]:24s} {text!r}"
        )
    if output is not None:
        typer.echo(f"wrote {len(suspects):,} suspects to {output}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="model version, folder, or 'active'")],
    data: Annotated[list[Path], typer.Argument(help="labelled dump files", show_default=False)],
    label_column: Annotated[
        str, typer.Option("--label-column", help="the column holding 0/1 labels")
    ] = "label",
    label: Annotated[
        str, typer.Option("--label", help="which score to evaluate: insult or troll")
    ] = "insult",
    format: FormatOpt = "auto",
    text_column: TextColumnOpt = None,
    positive: Annotated[
        str, typer.Option("--positive", help="label values that mean positive, comma-separated (e.g. TIN)")
    ] = "",
    negative: Annotated[
        str, typer.Option("--negative", help="label values that mean negative, comma-separated (e.g. NULL)")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print every figure as JSON")] = False,
) -> None:
    """Print ROC AUC, average precision, F1 at the model's threshold and calibration error."""
    import json

    from moderation.evaluate import evaluate_files

    result = evaluate_files(
        None if model == "active" else model,
        data,
        label_column=label_column,
        label=label,
        text_column=text_column,
        format=format,
        positive=[v for v in positive.split(",") if v.strip()],
        negative=[v for v in negative.split(",") if v.strip()],
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    typer.echo(f"model {result['model_version']}, label {label}, column {result['label_column']}")
    typer.echo(f"rows {result['n']:,}, positives {result['positives']:,}")
    typer.echo(f"ROC AUC            {fmt(result['auc'])}")
    typer.echo(f"average precision  {fmt(result['ap'])}")
    typer.echo(
        f"F1 at {result['threshold']:.4f}       {fmt(result['f1'])} "
        f"(precision {fmt(result['precision'])}, recall {fmt(result['recall'])})"
    )
    typer.echo(f"calibration (ECE)  {fmt(result['ece'])}")


models_app = typer.Typer(help="List, inspect, promote and roll back model versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Every model version, oldest first; '*' marks the active one."""
    from moderation.registry import list_models

    for entry in list_models():
        if entry["error"]:
            typer.echo(f"! {entry['version']:28s} unreadable: {entry['error']}")
            continue
        auc = entry["kaggle_insults_auc"]
        typer.echo(
            f"{'*' if entry['active'] else ' '} {entry['version']:28s} {entry['created_at']:20s} "
            f"{entry['bytes'] / 1e6:6.1f} MB  data={entry['training_data'] or '-'}  "
            f"kaggle_auc={'-' if auc is None else f'{auc:.4f}'}"
        )


@models_app.command("show")
def models_show(
    version: Annotated[str | None, typer.Argument(help="version or folder (default: the active one)")] = None,
) -> None:
    """Print a model's card (JSON)."""
    import json

    from moderation.registry import read_card

    typer.echo(json.dumps(read_card(version), indent=2, ensure_ascii=False))


def _store_if_any(db: str | None) -> Store | None:
    """The store named by --db or $MODERATION_DB, or ./moderation.db if it exists; else None."""
    from moderation.store import open_store

    if db or os.environ.get(config.DB_ENV_VAR) or Path(config.DEFAULT_DB_FILE).is_file():
        return open_store(db)
    return None


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="the version to make active")],
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="store whose held-out moderators' labels join the evaluation set "
            "(default: $MODERATION_DB, else ./moderation.db if it exists)",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="promote even if the gate fails (logged as promote-forced)")
    ] = False,
) -> None:
    """Make VERSION the active model if it is not worse than the active one on the fixed
    evaluation set (public test splits + held-out moderators' labels); prints both side by side."""
    _promote_through_gate(version, db=db, force=force)


def _promote_through_gate(
    version: str, *, db: str | None, force: bool, models_dir: Path | None = None
) -> None:
    from moderation import gate
    from moderation.review import User, promote_model

    store = _store_if_any(db)
    try:
        if store is None:
            previous, result = gate.promote(version, force=force, models_dir=models_dir)
        else:
            previous, result = promote_model(
                store, User.operator(), version, force=force, models_dir=models_dir
            )
    finally:
        if store is not None:
            store.close()
    if not result.table.empty:
        typer.echo(gate.format_table(result.table))
    typer.echo(result.summary())
    forced = " (forced past the gate)" if not result.passed else ""
    typer.echo(f"active model is now {version}" + (f" (was {previous})" if previous else "") + forced)


@models_app.command("rollback")
def models_rollback() -> None:
    """Make the previously active model active again."""
    from moderation.registry import rollback

    typer.echo(f"active model is now {rollback()}")


@app.command("audit-bias")
def audit_bias_command(
    model: Annotated[
        str | None, typer.Option("--model", help="model version or path (default: the active model)")
    ] = None,
    label: Annotated[str, typer.Option("--label", help="which score to audit: insult or troll")] = "insult",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="also write every figure to this JSON file")
    ] = None,
) -> None:
    """Audit identity-term bias: per-term false-positive rate, subgroup, BPSN and BNSP AUCs."""
    from moderation.audit import audit_bias

    result = audit_bias(model_ref=model, label=label)
    typer.echo(result.to_markdown())
    if output is not None:
        typer.echo(f"wrote {result.write_json(output)}")


# --- the dashboard (dashboard/app.py, run by Streamlit) ------------------------------------------

DASHBOARD_AUTH_ENV_VAR = config.DASHBOARD_AUTH_ENV_VAR
LOOPBACK_HOSTS = config.LOOPBACK_HOSTS
DEFAULT_DASHBOARD_PORT = 8501

PortOpt = Annotated[int, typer.Option("--port", help="port the dashboard listens on")]


#: ``streamlit`` (the ``streamlit run`` entry point), after importing what every page needs
#: (argv[1] is the checkout, which holds ``dashboard/``): otherwise the first page load after a
#: start pays for these imports: 0.5 to 1 s of the first queue paint (bench_dashboard_paint.py).
#: Then ``gc.freeze()``: Streamlit runs a full collection after every script run
#: (``runner.postScriptGC``), which walked these modules' hundred thousand objects each time,
#: 0.1 to 0.25 s on 2 cores, and the sign-in's run waited for it; frozen, they are not walked
#: again, and what the runs allocate is still collected.
_STREAMLIT_WITH_PRELOAD = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import argon2, pandas, sqlalchemy; "
    "import dashboard.render, dashboard.session, dashboard.widgets, moderation.review; "
    "from streamlit.web.cli import main; import gc; gc.collect(); gc.freeze(); "
    "sys.argv[0] = 'streamlit'; main()"
)


def run_dashboard(
    *, db: str | None = None, port: int = DEFAULT_DASHBOARD_PORT, host: str = "127.0.0.1", auth: bool = True
) -> int:
    """Run ``streamlit run dashboard/app.py`` on the store ``db`` until it stops; returns its exit code.

    Without ``auth`` everyone who reaches the page acts as an admin, so it listens on 127.0.0.1 only.
    """
    import signal
    import subprocess

    from moderation.store import open_store, resolve_db_url

    if not auth and host not in LOOPBACK_HOSTS:
        raise ModerationError(
            f"--no-auth listens on 127.0.0.1 only, not on {host}",
            hint="drop --host, or keep the sign-in (drop --no-auth) and add users: moderation users add NAME",
        )
    app_path = config.PROJECT_ROOT / "dashboard" / "app.py"
    if not app_path.is_file():
        raise ModerationError(
            f"the dashboard is not at {app_path}",
            hint="run it from a checkout of the project, installed with: pip install -e .",
        )
    url = resolve_db_url(db)
    with open_store(url):  # migrates the schema, and fails here with a clear message
        pass
    env = {**os.environ, config.DB_ENV_VAR: url, DASHBOARD_AUTH_ENV_VAR: "on" if auth else "off"}
    command = [
        sys.executable, "-c", _STREAMLIT_WITH_PRELOAD, str(config.PROJECT_ROOT), "run", str(app_path),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    who = "sign in as a store user" if auth else "no sign-in: you act as the local admin"
    _echo_err(f"dashboard on http://{host}:{port} ({who}); Ctrl-C stops it")
    process = subprocess.Popen(command, env=env)  # noqa: S603 (our own interpreter and app)
    # Stopping this command stops Streamlit too (a service manager sends SIGTERM).
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: process.send_signal(signum))
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def dashboard(
    db: DbOpt = None,
    port: PortOpt = DEFAULT_DASHBOARD_PORT,
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface; needs the sign-in)")
    ] = "127.0.0.1",
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no sign-in: act as the local admin (127.0.0.1 only)")
    ] = False,
) -> None:
    """Open the moderation dashboard on the store; moderators sign in as store users."""
    code = run_dashboard(db=db, port=port, host=host, auth=not no_auth)
    if code:
        raise typer.Exit(code)


@app.command()
def demo(
    db: Annotated[
        Path | None,
        typer.Option("--db", help="SQLite file to create (default: a new one in a temporary folder)"),
    ] = None,
    port: PortOpt = DEFAULT_DASHBOARD_PORT,
) -> None:
    """Load the shipped demo threads into a fresh SQLite store and open the dashboard on it
    (no sign-in, 127.0.0.1 only)."""
    import tempfile

    from moderation.store import ingest_files, open_store

    if db is None:
        db = Path(tempfile.mkdtemp(prefix="moderation-demo-")) / "demo.db"
    elif db.exists():
        raise ModerationError(f"{db} already exists", hint="pass --db with a new file name, or delete it")
    with open_store(str(db)) as store:
        summary = ingest_files(
            store,
            [config.DEMO_DATA_DIR / "demo_comments.jsonl"],
            rejects_path=db.with_name(db.name + ".rejects.jsonl"),
        )
    typer.echo(f"{summary.line()}; store {db}")
    code = run_dashboard(db=str(db), port=port, host="127.0.0.1", auth=False)
    if code:
        raise typer.Exit(code)


class _progress:
    """A rows-scored counter on stderr when it is a terminal; silent in pipes and CI."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._progress = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}: {task.completed:,} rows"),
            TimeElapsedColumn(),
            transient=True,
        )
        self._progress.start()
        task = self._progress.add_task(self.label, total=None)
        return lambda rows: self._progress.advance(task, rows)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and turns user errors into one-line messages."""
    try:
        app(args=argv, standalone_mode=False)
    except ModerationError as error:
        _echo_err(f"error: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        _echo_err("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as error:  # click's usage errors arrive here in non-standalone mode
        if _is_click_error(error, "ClickException"):
            error.show()  # type: ignore[attr-defined]
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        if _is_click_error(error, "Abort"):
            sys.exit(1)
        raise


def _is_click_error(error: Exception, name: str) -> bool:
    # Click's classes, or the copy of click that typer bundles from 0.2x on (typer._click):
    # "moderation audit" (for audit-bias) raised the copy's UsageError, which click's
    # ClickException does not catch, and printed a traceback.
    return any(
        cls.__name__ == name and cls.__module__.split(".")[0] in ("click", "typer")
        for cls in type(error).__mro__
    )


if __name__ == "__main__":
    main()
