"""Models page: every model version in the registry with its card's metrics; admins can
promote a version or roll back to the previous one (``review.promote_model`` / ``rollback_model``,
which check the role and record the change in the audit log).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import render, session
from moderation import review


def _promote(version: str) -> None:
    current = session.user()
    session.act(
        f"{version} is now the active model", lambda: review.promote_model(session.store(), current, version)
    )


def _rollback() -> None:
    current = session.user()
    session.act("rolled back to the previous model", lambda: review.rollback_model(session.store(), current))


st.title("Models")
session.show_flash()
user = session.user()
is_admin = bool(user and user.is_admin)
entries = session.models()
if not entries:
    st.info("No model in the registry.")
    st.stop()

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
else:
    st.caption("Only admins can promote a model or roll back.")

for entry in reversed(entries):
    version = entry["version"]
    title = f"{version} (active)" if entry["active"] else version
    with st.expander(render.markdown_text(title), expanded=entry["active"]):
        metrics = entry["metrics"]
        if metrics:
            table = pd.DataFrame.from_dict(metrics, orient="index").rename_axis("test data").reset_index()
            st.dataframe(table, hide_index=True, key=render.widget_key("metrics", version))
        else:
            st.caption("The card has no metrics.")
        if is_admin and not entry["active"]:
            st.button(
                "promote to active",
                key=render.widget_key("promote", version),
                on_click=_promote,
                args=(version,),
            )
