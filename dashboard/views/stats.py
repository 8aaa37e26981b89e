"""Stats page: decisions over time and per moderator, how the scores spread, the flagged share
of each ingested dump, and how moderators agree with each other and with the model (overturn
rates, Cohen's kappa, the comments they disagree on); Altair charts and tables over
``moderation.review``'s statistics.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import streamlit as st

from dashboard import render, session
from moderation import config

st.html(render.CSS)
st.title("Stats")

over_time = session.read("decisions_over_time")
per_moderator = session.read("decisions_per_moderator")
histogram = session.read("score_histogram")
by_source = session.read("flagged_share_by_source")
thresholds = session.model_thresholds()

left, right = st.columns(2)
with left:
    st.subheader("Decisions over time")
    if over_time.empty:
        st.info("No decision yet.")
    else:
        st.altair_chart(
            alt.Chart(over_time)
            .mark_bar()
            .encode(
                x=alt.X("day:T", title="day (UTC)"),
                y=alt.Y("n:Q", title="decisions"),
                color=alt.Color("action:N", title="decision"),
                tooltip=["day:T", "action:N", "n:Q"],
            ),
            key="chart_over_time",
        )
with right:
    st.subheader("Decisions per moderator")
    if per_moderator.empty:
        st.info("No decision yet.")
    else:
        st.altair_chart(
            alt.Chart(per_moderator)
            .mark_bar()
            .encode(
                y=alt.Y("moderator:N", title=None, sort="-x"),
                x=alt.X("n:Q", title="decisions"),
                color=alt.Color("action:N", title="decision"),
                tooltip=["moderator:N", "action:N", "n:Q"],
            ),
            key="chart_per_moderator",
        )

st.subheader("Score histograms")
st.caption(
    f"Current scores of every stored comment; the rule marks the model's threshold "
    f"(insult {thresholds['insult']:.2f}, troll {thresholds['troll']:.2f})."
)
columns = st.columns(2)
for column, label in zip(columns, ("insult", "troll"), strict=True):
    with column:
        bins = histogram[histogram["label"] == label]
        bars = (
            alt.Chart(bins)
            .mark_bar()
            .encode(
                x=alt.X("bin_start:Q", bin="binned", title=f"{label} score"),
                x2="bin_end:Q",
                y=alt.Y("n:Q", title="comments"),
                tooltip=["bin_start:Q", "bin_end:Q", "n:Q"],
            )
        )
        rule = (
            alt.Chart({"values": [{"threshold": thresholds[label]}]})
            .mark_rule(color="red")
            .encode(x="threshold:Q")
        )
        st.altair_chart(bars + rule, key=f"chart_histogram_{label}")

st.subheader("Flagged share by source")
if by_source.empty:
    st.info("Nothing ingested yet.")
else:
    shown = by_source.assign(file=[Path(p).name or "(unknown)" for p in by_source["source"]])
    st.altair_chart(
        alt.Chart(shown)
        .mark_bar()
        .encode(
            y=alt.Y("file:N", title=None, sort="-x"),
            x=alt.X("flagged_share:Q", title="flagged share", axis=alt.Axis(format="%")),
            tooltip=[
                "file:N",
                "format:N",
                "n_comments:Q",
                "n_flagged:Q",
                alt.Tooltip("flagged_share:Q", format=".1%"),
            ],
        ),
        key="chart_by_source",
    )

st.subheader("Moderators and the model")
with_model = session.read("model_agreement")
if with_model.empty:
    st.caption("No moderator has labelled a comment yes or no yet, so there is no agreement to show.")
else:
    st.caption(
        "Each moderator's latest yes/no label of a comment counts once (unsure and undone labels "
        "do not). An overturn is a comment the model flagged that the moderator labelled no, or "
        "one it did not flag that they labelled yes, against the flag they saw. Kappa: 1 is full "
        f"agreement, 0 no better than chance; it needs {config.MIN_KAPPA_ITEMS} comments in common."
    )
    st.altair_chart(
        alt.Chart(with_model)
        .mark_bar()
        .encode(
            y=alt.Y("moderator:N", title=None),
            yOffset=alt.YOffset("label:N"),
            x=alt.X("overturn_rate:Q", title="overturn rate", axis=alt.Axis(format="%")),
            color=alt.Color("label:N", title="label"),
            tooltip=[
                "moderator:N",
                "label:N",
                alt.Tooltip("n:Q", title="labelled"),
                alt.Tooltip("n_flag_overturned:Q", title="flagged, said no"),
                alt.Tooltip("n_flag_missed:Q", title="not flagged, said yes"),
                alt.Tooltip("overturn_rate:Q", format=".1%"),
                alt.Tooltip("kappa:Q", format=".2f"),
            ],
        ),
        key="chart_overturn_rate",
    )
    shares = {"agreement": st.column_config.NumberColumn(format="percent")}
    kappa = {"kappa": st.column_config.NumberColumn(format="%.2f")}
    st.markdown("**Each moderator and the model**")
    st.dataframe(
        with_model,
        hide_index=True,
        key="agreement_model",
        column_order=[
            "moderator", "label", "n", "agreement", "kappa", "n_flag_overturned", "n_flag_missed",
            "overturn_rate", "note",
        ],
        column_config={
            **shares,
            **kappa,
            "overturn_rate": st.column_config.NumberColumn(format="percent"),
            "n_flag_overturned": st.column_config.NumberColumn("flagged, said no"),
            "n_flag_missed": st.column_config.NumberColumn("not flagged, said yes"),
        },
    )  # fmt: skip
    pairs = session.read("moderator_agreement")
    st.markdown("**Between moderators**, on the comments both labelled")
    if pairs.empty:
        st.caption("Only one moderator has labelled so far.")
    else:
        st.dataframe(pairs, hide_index=True, key="agreement_pairs", column_config={**shares, **kappa})
    disputed = session.read("disagreements")
    st.markdown("**Where moderators disagree**, most recently labelled first")
    if disputed.empty:
        st.caption("No comment has both a yes and a no from different moderators.")
    for row in disputed.to_dict("records"):
        key = render.widget_key("disagreement", f"{row['label']}:{row['comment_id']}")
        with st.container(border=True, key=key):
            st.html(render.disagreement_card(row))
            if st.button("open thread", key=render.widget_key("disagreement_open", key)):
                st.session_state["thread_id"] = str(row["thread_id"])
                st.session_state["cursor"] = str(row["comment_id"])
                st.switch_page("views/thread.py", query_params={"thread": str(row["thread_id"])})
