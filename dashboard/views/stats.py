"""Stats page: decisions over time and per moderator, how the scores spread, and the flagged
share of each ingested dump (Altair charts over ``moderation.review``'s statistics).
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import streamlit as st

from dashboard import session

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
