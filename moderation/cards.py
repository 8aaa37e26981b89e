"""A model card (``models/<version>/model.json``, written by ``moderation.training``) as tables.

The Models page shows these; each function reads only the card, so a card from an older model
that lacks a section gives an empty table (and the page says the section is not in the card).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["bias_audits", "metrics_table", "reliability_table", "site_calibration_table", "thresholds_table"]

#: The split name under which ``reliability_table`` lists the training out-of-fold bins.
OUT_OF_FOLD = "training (out of fold)"

_METRIC_COLUMNS = ["split", "label", "n", "positives", "auc", "ap", "precision", "recall", "f1", "ece"]


def metrics_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """One row per evaluation split: its label, size, AUC, AP, precision/recall/F1 at the
    model's threshold and the expected calibration error (ECE)."""
    rows = [
        {"split": split, **{c: figures.get(c) for c in _METRIC_COLUMNS[1:]}}
        for split, figures in card.get("metrics", {}).items()
        if isinstance(figures, Mapping)
    ]
    return pd.DataFrame(rows, columns=_METRIC_COLUMNS)


def thresholds_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """Per label: the threshold in use, how it was chosen, and the threshold the moderators'
    labels gave (with its 95% bootstrap interval, precision, recall and whether it applied)."""
    rows = []
    for label, threshold in card.get("thresholds", {}).items():
        chosen = card.get("operating_points", {}).get(label, {})
        site = card.get("site_thresholds", {}).get(label) or {}
        rows.append(
            {
                "label": label,
                "threshold": threshold,
                "chosen by": chosen.get("chosen_by", ""),
                "from moderators' labels": site.get("threshold"),
                "95% CI low": site.get("threshold_low"),
                "95% CI high": site.get("threshold_high"),
                "precision there": site.get("precision"),
                "recall there": site.get("recall"),
                "labels": site.get("n"),
                "applied": site.get("applied"),
                "why": site.get("why", "not in this card"),
            }
        )
    return pd.DataFrame(rows)


def site_calibration_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """Per label: whether the scores were recalibrated to the moderators' labels, the map's
    parameters, and the ECE on the held-out moderators' labels before and after."""
    rows = [
        {
            "label": label,
            "applied": entry.get("applied"),
            "labels": entry.get("rows"),
            "a": entry.get("a"),
            "b": entry.get("b"),
            "c": entry.get("c"),
            "held-out labels": entry.get("heldout_rows"),
            "ECE before": entry.get("heldout_ece_before"),
            "ECE after": entry.get("heldout_ece_after"),
            "why": entry.get("why", ""),
        }
        for label, entry in card.get("site_calibration", {}).items()
    ]
    return pd.DataFrame(rows)


def reliability_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """The reliability bins of every evaluation split (and of each head's out-of-fold training
    scores, as ``OUT_OF_FOLD``): ``split``, ``label``, ``low``, ``high``, ``count``,
    ``mean_predicted``, ``observed_rate``, ``ece``. Empty bins are left out."""
    sources = [(split, figures) for split, figures in card.get("metrics", {}).items()]
    sources += [
        (OUT_OF_FOLD, {**op, "label": label}) for label, op in card.get("operating_points", {}).items()
    ]
    rows = []
    for split, figures in sources:
        if not isinstance(figures, Mapping):
            continue
        for bin_ in figures.get("reliability") or []:
            if bin_.get("count") and bin_.get("mean_predicted") is not None:
                rows.append(
                    {
                        "split": split,
                        "label": figures.get("label", ""),
                        "low": bin_["low"],
                        "high": bin_["high"],
                        "count": bin_["count"],
                        "mean_predicted": bin_["mean_predicted"],
                        "observed_rate": bin_["observed_rate"],
                        "ece": figures.get("ece"),
                    }
                )
    columns = ["split", "label", "low", "high", "count", "mean_predicted", "observed_rate", "ece"]
    return pd.DataFrame(rows, columns=columns)


def bias_audits(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The card's ``bias_audit`` section as a list of audits (``moderation.audit.BiasAudit.to_dict``
    shape: label, threshold, overall, flagged, terms), whether the card holds one audit, one per
    label (a mapping, as training writes ``BiasAudit.to_card``) or a list. Empty when it has none."""
    section = card.get("bias_audit")
    if not section:
        return []
    if isinstance(section, Mapping) and "terms" in section:
        found = [section]
    elif isinstance(section, Mapping):
        found = [{"label": label, **audit} for label, audit in section.items() if isinstance(audit, Mapping)]
    else:
        found = [audit for audit in section if isinstance(audit, Mapping)]
    audits = [dict(audit) for audit in found if isinstance(audit.get("terms"), list)]
    for audit in audits:
        # Training writes ``BiasAudit.to_card`` (overall_fpr, overall_auc at the top level).
        if "overall" not in audit and "overall_fpr" in audit:
            audit["overall"] = {"fpr": audit["overall_fpr"], "auc": audit.get("overall_auc")}
    return audits
