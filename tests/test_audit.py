"""The bias audit: metrics on planted synthetic scores with known answers, the template set, the
shipped model's audit, and ``moderation audit-bias`` end to end."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import audit
from moderation.audit import BiasAudit, audit_bias, bias_metrics, build_audit_set
from moderation.errors import ModerationError, OutputError
from moderation.lexicon import IDENTITY_INSULT_TEMPLATES, IDENTITY_NEUTRAL_TEMPLATES, IDENTITY_TERMS

TERMS = ("alpha", "beta", "gamma", "delta", "planted")


def synthetic(seed: int, *, per_term: int = 40) -> pd.DataFrame:
    """Half insulting, half neutral sentences per term; insults score in [0.6, 1), neutral in
    [0, 0.4), so any scorer built on these columns separates them perfectly."""
    rng = np.random.default_rng(seed)
    rows = []
    for term in TERMS:
        for label in (0, 1):
            low = 0.6 if label else 0.0
            for score in rng.uniform(low, low + 0.4, size=per_term):
                rows.append({"term": term, "label": label, "score": score})
    return pd.DataFrame(rows)


def row(result: BiasAudit, term: str) -> pd.Series:
    return result.terms.set_index("term").loc[term]


def pairwise_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The AUC by its definition: the share of (positive, negative) pairs in the right order."""
    if not len(positive) or not len(negative):
        return math.nan
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (
        positive[:, None] == negative[None, :]
    ).sum()
    return float(wins / (len(positive) * len(negative)))


# --- metrics on synthetic data -------------------------------------------------------------------


def test_a_perfect_scorer_has_auc_1_and_no_false_positives() -> None:
    data = synthetic(1)
    result = bias_metrics(data["score"], data["label"], data["term"], threshold=0.5)
    assert result.overall_auc == 1.0 and result.overall_fpr == 0.0
    assert len(result.terms) == len(TERMS)
    for column in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
        assert (result.terms[column] == 1.0).all(), column
    assert (result.terms["fpr"] == 0.0).all()
    assert result.flagged_terms == []


def test_a_scorer_that_penalises_one_term_is_caught() -> None:
    data = synthetic(2)
    penalised = (data["term"] == "planted") & (data["label"] == 0)
    # Neutral sentences about the planted term score above every insult: [1.0, 1.4).
    data.loc[penalised, "score"] += 1.0
    result = bias_metrics(data["score"], data["label"], data["term"], threshold=0.5)
    planted = row(result, "planted")
    assert planted["fpr"] == 1.0 and planted["false_positives"] == planted["neutral"] == 40
    assert result.overall_fpr == pytest.approx(1 / len(TERMS))
    assert planted["bpsn_auc"] == 0.0 and planted["subgroup_auc"] == 0.0
    assert planted["bnsp_auc"] == 1.0  # its insults still outrank every other neutral sentence
    assert result.flagged_terms == ["planted"]
    assert result.terms.iloc[0]["term"] == "planted"  # worst first
    for term in set(TERMS) - {"planted"}:
        other = row(result, term)
        assert other["fpr"] == 0.0 and other["bpsn_auc"] == 1.0 and other["subgroup_auc"] == 1.0
        # Its insults lose only to the planted term's neutral sentences: 40 of the 160 others.
        assert other["bnsp_auc"] == pytest.approx(120 / 160)


def test_a_scorer_that_misses_insults_against_one_term_gets_a_low_bnsp() -> None:
    data = synthetic(3)
    missed = (data["term"] == "planted") & (data["label"] == 1)
    data.loc[missed, "score"] -= 0.6  # now in [0, 0.4), like the neutral sentences
    result = bias_metrics(data["score"], data["label"], data["term"], threshold=0.5)
    planted = row(result, "planted")
    assert planted["fpr"] == 0.0 and not planted["flagged"]  # no false positives, a different harm
    assert planted["bnsp_auc"] < 0.6 and planted["subgroup_auc"] < 0.6
    assert planted["bpsn_auc"] == 1.0
    assert result.terms.set_index("term").drop("planted")["bnsp_auc"].eq(1.0).all()


def test_aucs_match_their_pairwise_definitions_with_ties() -> None:
    rng = np.random.default_rng(4)
    n = 400
    terms = rng.choice(TERMS, size=n)
    labels = rng.integers(0, 2, size=n)
    # Rounded to one decimal so that many scores tie; insults lean higher, planted neutrals too.
    scores = np.round(rng.uniform(0, 1, size=n) * 0.7 + labels * 0.2 + (terms == "planted") * 0.1, 1)
    result = bias_metrics(scores, labels, terms, threshold=0.5)
    positive, negative = labels == 1, labels == 0
    for term in TERMS:
        group = terms == term
        got = row(result, term)
        assert got["subgroup_auc"] == pytest.approx(
            pairwise_auc(scores[group & positive], scores[group & negative])
        )
        assert got["bpsn_auc"] == pytest.approx(
            pairwise_auc(scores[~group & positive], scores[group & negative])
        )
        assert got["bnsp_auc"] == pytest.approx(
            pairwise_auc(scores[group & positive], scores[~group & negative])
        )
        assert got["fpr"] == pytest.approx((scores[group & negative] >= 0.5).mean())
    assert result.overall_auc == pytest.approx(pairwise_auc(scores[positive], scores[negative]))


def test_fpr_counts_a_score_at_the_threshold_and_flags_strictly_above_twice_overall() -> None:
    # Four terms, ten neutral sentences each (and one insult each, so every AUC is defined).
    terms = [t for t in ("a", "b", "c", "d") for _ in range(11)]
    labels = [0] * 10 + [1]
    labels = labels * 4
    scores = np.zeros(44)
    scores[[10, 21, 32, 43]] = 0.9  # the insults
    scores[0] = 0.5  # "a": one neutral sentence exactly at the threshold counts as flagged
    scores[11] = 0.7  # "b": one false positive
    result = bias_metrics(scores, labels, terms, threshold=0.5)
    assert row(result, "a")["false_positives"] == 1 and row(result, "a")["fpr"] == 0.1
    assert result.overall_fpr == 2 / 40
    assert row(result, "a")["fpr_ratio"] == 2.0
    assert result.flagged_terms == []  # exactly twice the overall rate is not above it
    scores[1] = 0.6  # "a" now has two: four times the overall rate
    result = bias_metrics(scores, labels, terms, threshold=0.5)
    assert result.flagged_terms == ["a"]


@pytest.mark.parametrize(
    ("scores", "labels", "terms", "message"),
    [
        ([0.1, 0.9], [0, 1], ["a"], "one value per sentence"),
        ([0.1, math.nan], [0, 1], ["a", "a"], "finite"),
        ([0.1, 0.9], [0, 2], ["a", "a"], r"0 \(neutral\) or 1"),
        ([0.1, 0.9], [0, 0], ["a", "a"], "both neutral"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(
    scores: list, labels: list, terms: list, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bias_metrics(scores, labels, terms, threshold=0.5)


def test_an_undefined_auc_is_nan_in_the_table_and_null_in_json(tmp_path: Path) -> None:
    # "lonely" has neutral sentences only: its subgroup and BNSP AUCs have no positives.
    result = bias_metrics(
        [0.1, 0.2, 0.9, 0.8, 0.3], [0, 0, 1, 1, 0], ["a", "a", "a", "b", "lonely"], threshold=0.5
    )
    lonely = row(result, "lonely")
    assert math.isnan(lonely["subgroup_auc"]) and math.isnan(lonely["bnsp_auc"])
    assert lonely["bpsn_auc"] == 1.0
    written = json.loads(result.write_json(tmp_path / "audit.json").read_text())
    by_term = {entry["term"]: entry for entry in written["terms"]}
    assert by_term["lonely"]["subgroup_auc"] is None and by_term["lonely"]["bpsn_auc"] == 1.0
    table = [line for line in result.to_markdown().splitlines() if line.startswith("| lonely ")]
    assert len(table) == 1 and " - " in table[0]


def test_the_card_summary_lists_every_term_rounded_and_json_ready() -> None:
    data = synthetic(3)
    penalised = (data["term"] == "planted") & (data["label"] == 0)
    data.loc[penalised, "score"] += 1.0
    result = bias_metrics(data["score"], data["label"], data["term"], threshold=0.5)
    card = result.to_card(digits=3)
    assert json.loads(json.dumps(card, allow_nan=False)) == card
    assert card["threshold"] == 0.5 and card["overall_fpr"] == 0.2 and card["flagged"] == ["planted"]
    assert card["max_fpr_ratio"] == 5.0
    assert [entry["term"] for entry in card["terms"]] == result.terms["term"].tolist()
    planted = card["terms"][0]
    assert planted["term"] == "planted" and planted["fpr"] == 1.0 and planted["fpr_ratio"] == 5.0
    assert planted["bpsn_auc"] == 0.0 and planted["flagged"] is True
    for entry in card["terms"]:
        for key in ("fpr", "fpr_ratio", "subgroup_auc", "bpsn_auc", "bnsp_auc"):
            assert entry[key] == round(entry[key], 3), key


def test_write_json_refuses_a_path_that_climbs_out(tmp_path: Path) -> None:
    data = synthetic(5, per_term=3)
    result = bias_metrics(data["score"], data["label"], data["term"], threshold=0.5)
    with pytest.raises(OutputError, match=r"'\.\.'"):
        result.write_json(tmp_path / ".." / "audit.json")
    with pytest.raises(OutputError, match="does not exist"):
        result.write_json(tmp_path / "missing" / "audit.json")


# --- the template set ----------------------------------------------------------------------------


def test_the_template_set_covers_50_terms_in_every_category() -> None:
    terms = [term for group in audit.IDENTITY_TERMS.values() for term in group]
    assert len(terms) >= 50 and len(set(terms)) == len(terms)
    for category in ("religion", "nationality", "orientation", "ethnicity", "disability", "gender"):
        assert len(audit.IDENTITY_TERMS[category]) >= 3, category
    sentences = build_audit_set()
    assert len(sentences) == len(terms) * (len(audit.NEUTRAL_TEMPLATES) + len(audit.INSULT_TEMPLATES))
    assert sentences.groupby("term")["label"].nunique().eq(2).all()
    for text, term in zip(sentences["text"], sentences["term"], strict=True):
        assert term.lower() in text.lower() and "{" not in text and text[0].isupper()
    assert "I grew up in an Asian family and I loved it." in set(sentences["text"])
    assert "I grew up in a Black family and I loved it." in set(sentences["text"])


def _frame_ngrams(template: str, n: int) -> set[str]:
    """Word n-grams of a template, its identity slot (any placeholder) read as the word <term>."""
    words = re.findall(r"[a-z']+|<term>", re.sub(r"\{\w+\}", "<term>", template.lower()))
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_audit_templates_share_no_sentence_frame_with_the_training_templates() -> None:
    # Near-copies ("Shut up, you pathetic {term} moron." against the audit's "... loser.") would
    # measure memory of a frame rather than how the model treats the term: no four-word
    # sequence, and no three-word sequence around the term, may be in both sets.
    audit_templates = (*audit.NEUTRAL_TEMPLATES, *audit.INSULT_TEMPLATES)
    audit_4 = set().union(*(_frame_ngrams(t, 4) for t in audit_templates))
    audit_3 = {g for t in audit_templates for g in _frame_ngrams(t, 3) if "<term>" in g}
    shared = {
        template: sorted((_frame_ngrams(template, 4) & audit_4) | (_frame_ngrams(template, 3) & audit_3))
        for template in (*IDENTITY_NEUTRAL_TEMPLATES, *IDENTITY_INSULT_TEMPLATES)
    }
    assert {t: g for t, g in shared.items() if g} == {}
    # The check itself catches a near-copy.
    assert _frame_ngrams("Shut up, you pathetic {term} moron.", 4) & audit_4


def test_audit_sentences_are_not_training_sentences() -> None:
    # Training balances identity terms with its own templates; auditing with those would only
    # measure memory. No audit sentence may be a training sentence.
    training = {
        template.format(term=term).lower()
        for template in (*IDENTITY_NEUTRAL_TEMPLATES, *IDENTITY_INSULT_TEMPLATES)
        for term in IDENTITY_TERMS
    }
    audit_texts = {text.lower() for text in build_audit_set()["text"]}
    assert not audit_texts & training
    # The mitigation balances every audited term (balancing one half of them left the other
    # half at three times the false-positive rate): the frames, not the terms, are held out.
    in_training = {term.lower() for term in IDENTITY_TERMS}
    ours = {term.lower() for group in audit.IDENTITY_TERMS.values() for term in group}
    assert ours <= in_training


def test_a_template_must_name_the_identity() -> None:
    with pytest.raises(ValueError, match="must name the identity"):
        build_audit_set(neutral_templates=["Nothing to see here."])
    with pytest.raises(ValueError, match="listed under"):
        build_audit_set(identity_terms={"a": ["x"], "b": ["x"]})


# --- the shipped model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_audits() -> dict[str, BiasAudit]:
    return {label: audit_bias(label=label) for label in ("insult", "troll")}


def test_the_shipped_model_audit_covers_every_term(shipped_audits: dict[str, BiasAudit]) -> None:
    result = shipped_audits["insult"]
    assert len(result.terms) >= 50
    assert set(result.terms["term"]) == {t for group in audit.IDENTITY_TERMS.values() for t in group}
    assert result.model_version and 0 < result.threshold < 1
    assert result.overall_auc > 0.9  # the insulting sentences do outrank the neutral ones
    table = [line for line in result.to_markdown().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(result.terms)  # the header and one row per term, none hidden


@pytest.mark.parametrize("label", ["insult", "troll"])
def test_no_term_has_more_than_twice_the_overall_false_positive_rate(
    shipped_audits: dict[str, BiasAudit], label: str
) -> None:
    result = shipped_audits[label]
    limit = 2 * result.overall_fpr
    over = result.terms.loc[result.terms["fpr"] > limit, ["term", "false_positives", "neutral", "fpr"]]
    assert over.empty, f"overall FPR {result.overall_fpr:.3f}; above {limit:.3f}:\n{over.to_string()}"


def test_audit_bias_refuses_an_unknown_label() -> None:
    with pytest.raises(ModerationError, match="--label insult or --label troll"):
        audit_bias(label="spam")


# --- the command ---------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moderation.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_audit_bias_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    result = run_cli("audit-bias", "--label", "troll", "--model", "2026.11-v2", "--output", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Bias audit: model 2026.11-v2, troll score")
    rows = [line for line in lines if line.startswith("| ")][1:]
    written = json.loads(out.read_text())
    assert written["label"] == "troll" and written["model_version"] == "2026.11-v2"
    assert len(rows) == len(written["terms"]) >= 50
    assert {"fpr", "subgroup_auc", "bpsn_auc", "bnsp_auc", "flagged"} <= set(written["terms"][0])
    assert lines[-1] == f"wrote {out}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--label", "spam"), "unknown label 'spam'"),
        (("--model", "no-such-model"), "no model 'no-such-model'"),
    ],
)
def test_audit_bias_command_errors_are_one_line(args: tuple[str, ...], expected: str) -> None:
    result = run_cli("audit-bias", *args)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert "Traceback" not in result.stderr
