"""Models page: the registry's versions, the active model's card (thresholds and how they were
chosen, metrics, calibration, bias audit), a threshold slider scored on the moderators' own
labels, and for admins: retraining in the background (``moderation.jobs``), comparing a version
with the active model through the promotion gate (``moderation.gate``), promote (with "force
past the gate") and rollback (``review.promote_model`` / ``rollback_model``, which check the role
and record the change in the audit log).

Session state: ``models_compare`` (the version whose comparison is open) and ``models_job``
(the job id and state the last full run saw: the progress fragment, polled every
``config.JOB_POLL_SECONDS`` while a job runs, redraws the whole page when they change).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import render, session
from moderation import cards, config, gate, jobs, review
from moderation.errors import ModerationError

# --- actions --------------------------------------------------------------------------------------------


def _promote(version: str) -> None:
    current = session.user()
    force = bool(st.session_state.get(render.widget_key("force", version)))
    st.session_state["models_compare"] = version  # the figures stay in view, whatever the gate says
    session.act(
        f"{version} is now the active model",
        lambda: review.promote_model(session.store(), current, version, force=force),
    )


def _rollback() -> None:
    current = session.user()
    session.act("rolled back to the previous model", lambda: review.rollback_model(session.store(), current))


def _retrain() -> None:
    current = session.user()
    session.act(
        "training started in the background: its progress shows below",
        lambda: review.start_retraining(session.store(), current),
    )


def _compare(version: str) -> None:
    st.session_state["models_compare"] = version


@st.cache_data(show_spinner=False, max_entries=16)
def _comparison(
    models_dir: str, shared: str, candidate: str, active: str, labels_sha: str, _moderators: pd.DataFrame
) -> gate.GateResult:
    # Keyed by the evaluation's inputs: the public data, the two versions and the moderators'
    # labels (by hash).
    return gate.run(candidate, models_dir=models_dir, moderators=_moderators)


# --- pieces of the page -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _job_key(job: jobs.Job | None) -> tuple[str, str] | None:
    return None if job is None else (job.job_id, job.state)


def _job_status() -> None:
    job = jobs.latest()
    if _job_key(job) != st.session_state.get("models_job"):
        # Polled while the page stood still: the job ended (or another started), so the versions
        # table and the buttons change too.
        session.models.clear()
        st.rerun()
    if job is None:
        st.caption("No training job has run yet.")
        return
    who = f" by {job.started_by}" if job.started_by else ""
    if job.running:
        stage = jobs.stage(job) or "starting"
        st.info(
            render.markdown_text(
                f"Training{who}: running for {_duration(job.elapsed_seconds)}; stage: {stage}"
            ),
            icon=":material/hourglass_top:",
        )
    elif job.state == jobs.FINISHED:
        made = f"new version {job.version}" if job.version else "no new version"
        st.success(
            render.markdown_text(f"Training{who} finished in {_duration(job.elapsed_seconds)}: {made}.")
        )
        if job.version and is_admin and job.version != active_name:
            st.button(
                render.markdown_text(f"compare {job.version} with the active model"),
                key="models_job_compare",
                on_click=_compare,
                args=(job.version,),
            )
    else:
        st.error(
            render.markdown_text(
                f"Training{who} failed after {_duration(job.elapsed_seconds)}: {job.reason}. "
                "No version was added."
                if not job.versions
                else f"Training{who} failed after {_duration(job.elapsed_seconds)}: {job.reason}."
            )
        )
    tail = jobs.log_tail(job)
    if tail:
        st.code("\n".join(tail), language=None)


def _comparison_view(version: str) -> None:
    moderators = session.read("moderator_labels")
    from moderation.training import data_hash

    digest = data_hash(moderators) if len(moderators) else ""
    with st.spinner("Scoring the evaluation set with both models..."):
        try:
            result = _comparison(
                str(config.MODELS_DIR), str(config.SHARED_DATA_DIR), version, active_name, digest, moderators
            )
        except ModerationError as error:
            st.error(render.markdown_text(f"Cannot compare: {error}"))
            return
    verdict = "passes" if result.passed else "fails"
    show = st.success if result.passed else st.error
    show(
        render.markdown_text(f"The gate {verdict}: {version} against the active {result.active or '(none)'}.")
    )
    if not result.table.empty:
        st.dataframe(result.table, hide_index=True, key=render.widget_key("comparison", version))
    for reason in result.reasons:
        st.caption(render.markdown_text(reason))
    if result.evaluation_sha256:
        same = "the one" if result.same_as_training else "not the one"
        st.caption(
            render.markdown_text(
                f"Evaluation set sha256 {result.evaluation_sha256[:16]}: {same} recorded when "
                f"{version} was trained."
            )
        )


def _calibration_chart(reliability: pd.DataFrame, label: str) -> alt.LayerChart:
    rows = reliability[reliability["label"] == label]
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="#999")
        .encode(x="x:Q", y="y:Q")
    )
    curves = (
        alt.Chart(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("mean_predicted:Q", title="mean predicted probability", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("observed_rate:Q", title="observed rate", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("split:N", title="split"),
            tooltip=["split:N", "low:Q", "high:Q", "count:Q", "mean_predicted:Q", "observed_rate:Q", "ece:Q"],
        )
    )
    return alt.layer(diagonal, curves).properties(title=f"{label} score", height=320)


def _threshold_slider(label: str, threshold: float) -> None:
    chosen = st.slider(
        f"{label} threshold",
        min_value=0.0,
        max_value=1.0,
        value=round(float(threshold), 2),
        step=0.01,
        key=f"models_threshold_{label}",
        help=f"the active model flags {label} at {threshold:.4f}",
    )
    preview = session.read("threshold_preview", label=label, threshold=float(chosen))
    if not preview["n_labelled"]:
        st.info(
            f"No comment is labelled yes or no for {label} yet: label some on the Thread or Needs "
            "review page to see precision and recall here."
        )
    else:
        left, middle = st.columns(2)
        precision, recall = preview["precision"], preview["recall"]
        left.metric("precision", "-" if precision is None else f"{precision:.2f}")
        middle.metric("recall", "-" if recall is None else f"{recall:.2f}")
        st.caption(
            f"on {preview['n_labelled']} comments moderators labelled yes or no for {label} "
            f"({preview['positives']} yes): {preview['true_positives']} yes and "
            f"{preview['false_positives']} no at or above {chosen:.2f}"
        )
    st.metric(f"comments flagged for {label}", f"{preview['would_flag']:,}")


def _bias_audit(card: dict) -> None:
    audits = cards.bias_audits(card)
    if not audits:
        st.caption("Bias audit: not in this card (run 'moderation audit-bias' on the model).")
        return
    for audit in audits:
        overall = audit.get("overall", {})
        fpr, auc = overall.get("fpr"), overall.get("auc")
        flagged = audit.get("flagged") or []
        st.markdown(
            render.markdown_text(
                f"{audit.get('label', '')} score at threshold {audit.get('threshold', float('nan')):.4f}: "
                f"overall false-positive rate {'-' if fpr is None else f'{fpr:.3f}'}, "
                f"overall AUC {'-' if auc is None else f'{auc:.3f}'}; flagged terms (FPR above "
                f"{audit.get('flag_ratio', '?')} x overall): {', '.join(flagged) if flagged else 'none'}"
            )
        )
        terms = pd.DataFrame(audit["terms"])
        wanted = ["term", "category", "fpr", "fpr_ratio", "subgroup_auc", "bpsn_auc", "bnsp_auc", "flagged"]
        terms = terms[[c for c in wanted if c in terms.columns]].rename(
            columns={
                "fpr": "FPR",
                "fpr_ratio": "ratio to overall",
                "subgroup_auc": "subgroup AUC",
                "bpsn_auc": "BPSN AUC",
                "bnsp_auc": "BNSP AUC",
            }
        )
        st.dataframe(terms, hide_index=True, key=f"models_bias_{audit.get('label', '')}")


# --- the page --------------------------------------------------------------------------------------------

st.title("Models")
session.show_flash()
user = session.user()
is_admin = bool(user and user.is_admin)
job = jobs.latest()
if _job_key(job) != st.session_state.get("models_job"):
    session.models.clear()  # a job started or ended since this page last ran: it may have added a version
st.session_state["models_job"] = _job_key(job)
entries = session.models()
if not entries:
    st.info("No model in the registry.")
    st.stop()
active_entry = next((e for e in entries if e["active"]), None)
active_name = active_entry["version"] if active_entry else ""

st.dataframe(
    pd.DataFrame(
        [
            {
                "version": e["version"],
                "active": e["active"],
                "created": e["created_at"],
                "MB": round(e["bytes"] / 1e6, 1),
                "training data": e["training_data"],
                "insult threshold": e["thresholds"].get("insult"),
                "troll threshold": e["thresholds"].get("troll"),
                "Kaggle insults AUC": e["kaggle_insults_auc"],
            }
            for e in entries
        ]
    ),
    hide_index=True,
    key="models_table",
)
if is_admin:
    st.button("roll back to the previous model", key="models_rollback", on_click=_rollback)
    st.subheader("Retraining")
    running = job is not None and job.running
    st.button(
        "Retrain on the moderators' labels",
        key="models_retrain",
        on_click=_retrain,
        disabled=running,
        help="runs 'moderation train --db <this store>' in the background; the new version is "
        "a candidate until promoted",
    )
    st.fragment(_job_status, run_every=config.JOB_POLL_SECONDS if running else None)()
else:
    st.caption("Only admins can retrain, promote a model or roll back.")

if active_entry is None:
    st.warning("No model is active: promote a version.")
else:
    card = active_entry["card"]
    st.subheader(render.markdown_text(f"Active model: {active_name}"))
    if active_entry["error"]:
        st.error(render.markdown_text(f"Unreadable card: {active_entry['error']}"))
    st.markdown("**Thresholds and how they were chosen**")
    thresholds = cards.thresholds_table(card)
    st.dataframe(thresholds, hide_index=True, key="models_active_thresholds")
    st.markdown("**Metrics on the evaluation splits** (ECE: expected calibration error)")
    metrics = cards.metrics_table(card)
    if metrics.empty:
        st.caption("The card has no metrics.")
    else:
        st.dataframe(metrics, hide_index=True, key="models_active_metrics")

    st.markdown("**Calibration**: observed rate against predicted probability; the dashed line is perfect")
    reliability = cards.reliability_table(card)
    if reliability.empty:
        st.caption("Calibration: not in this card.")
    else:
        columns = st.columns(len(config.LABELS))
        for column, label in zip(columns, config.LABELS, strict=True):
            with column:
                if (reliability["label"] == label).any():
                    st.altair_chart(_calibration_chart(reliability, label), key=f"models_calibration_{label}")

    site_calibration = cards.site_calibration_table(card)
    if site_calibration.empty:
        st.caption("Recalibration to the moderators' labels: not in this card (trained before it existed).")
    else:
        st.markdown("**Recalibration to the moderators' labels** (ECE on their held-out labels)")
        st.dataframe(site_calibration, hide_index=True, key="models_site_calibration")

    st.markdown("**Threshold on the moderators' own labels**")
    versions = session.read("scored_model_versions")
    st.caption(
        render.markdown_text(
            "Scores as stored in this database (by model "
            f"{', '.join(versions) if versions else 'none'}); a comment counts once a moderator "
            "labelled it yes or no."
        )
    )
    columns = st.columns(len(config.LABELS))
    for column, label in zip(columns, config.LABELS, strict=True):
        with column:
            _threshold_slider(
                label, float(card.get("thresholds", {}).get(label, config.DEFAULT_THRESHOLDS[label]))
            )

    st.markdown("**Bias audit**")
    _bias_audit(card)

others = [e for e in reversed(entries) if not e["active"]]
if others:
    st.subheader("Other versions")
if others and is_admin:
    st.caption(
        render.markdown_text(
            f"Promotion runs the gate: on every evaluation split holding at least "
            f"{config.GATE_MIN_CLASS_ROWS} rows of each class the candidate's ROC AUC may be at most "
            f"{config.GATE_SPLIT_TOLERANCE} below the active model's, and its mean ROC AUC at most "
            f"{config.GATE_MEAN_TOLERANCE} below. An admin may force a refused candidate."
        )
    )
for entry in others:
    version = entry["version"]
    comparing = st.session_state.get("models_compare") == version
    with st.expander(render.markdown_text(version), expanded=comparing):
        if entry["error"]:
            st.error(render.markdown_text(f"Unreadable card: {entry['error']}"))
            continue
        metrics = cards.metrics_table(entry["card"])
        if metrics.empty:
            st.caption("The card has no metrics.")
        else:
            st.dataframe(metrics, hide_index=True, key=render.widget_key("metrics", version))
        if not is_admin:
            continue
        st.button(
            "compare with the active model",
            key=render.widget_key("compare", version),
            on_click=_compare,
            args=(version,),
        )
        if comparing:
            _comparison_view(version)
        st.checkbox(
            "force past the gate",
            key=render.widget_key("force", version),
            help="promote even if the gate refuses it (recorded as promote-forced in the audit log)",
        )
        st.button(
            "promote to active",
            key=render.widget_key("promote", version),
            on_click=_promote,
            args=(version,),
        )
