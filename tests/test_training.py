"""Training: the corpus label mapping, data specs and licences, and a reproducible small training run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import fbeta_score

from moderation import config
from moderation.distill import group_keys
from moderation.errors import ModerationError
from moderation.kernel import CONTEXT_VERSION, FOLD_VERSION, LEXICON_VERSION
from moderation.lexicon import IDENTITY_TERMS
from moderation.normalize import normalize_text
from moderation.registry import load_model
from moderation.training import (
    CORPORA,
    IDENTITY_TROLL_WEIGHT,
    LABEL_DEFINITIONS,
    TROLL_NEGATIVE_WEIGHT,
    assemble_corpus,
    best_threshold,
    resolve_data_spec,
    swap_identities,
    text_groups,
)


def test_default_spec_uses_only_redistributable_corpora() -> None:
    names = resolve_data_spec("default")
    assert names == resolve_data_spec(None)
    assert all(CORPORA[n].split == "train" for n in names)
    assert all(CORPORA[n].redistribution != "no" for n in names)  # no non-commercial data
    assert "elf24" not in names and "socc" not in names


def test_spec_adds_and_removes_corpora() -> None:
    names = resolve_data_spec("default,+elf24,-cyber_trolls")
    assert "elf24" in names and "cyber_trolls" not in names
    assert resolve_data_spec("kaggle_insults_train,trac1_train") == ["kaggle_insults_train", "trac1_train"]
    with pytest.raises(ModerationError, match="unknown corpus") as error:
        resolve_data_spec("default,+nonsense")
    assert "kaggle_insults_train" in error.value.hint


def test_label_definitions_are_the_issue_s() -> None:
    assert set(LABEL_DEFINITIONS) == set(config.LABELS)
    assert "Profanity alone is not an insult" in LABEL_DEFINITIONS["insult"]


def test_duplicate_texts_share_a_group_even_when_obfuscated() -> None:
    groups = text_groups(["You IDIOT", "you idiot", "you  id10t", "hello"])
    assert groups[0] == groups[1] == groups[2] != groups[3]


@pytest.mark.shared
def test_label_mapping_follows_the_table(shared_data: Path) -> None:
    corpus = assemble_corpus(["olid_train", "trac1_train", "toxichat_train", "elf24"], root=shared_data)
    olid = corpus[corpus["corpus"] == "olid_train"]
    assert set(olid["insult"].unique()) == {0.0, 1.0}
    # Tweets no one found offensive are ordinary, not trolling; the offensive ones say nothing.
    assert set(olid["troll"].dropna()) == {0.0}
    assert set(olid.loc[olid["troll"].notna(), "troll_weight"]) == {TROLL_NEGATIVE_WEIGHT}
    assert (olid.loc[olid["insult"] == 1, "troll"].isna()).all()
    trac = corpus[corpus["corpus"] == "trac1_train"]
    assert set(trac.loc[trac["subset"] == "CAG", "troll_weight"]) == {1.0}
    assert set(trac.loc[trac["subset"] == "OAG", "troll_weight"]) == {0.5}
    assert (trac.loc[trac["subset"] == "NAG", "troll"] == 0).all()
    chat = corpus[corpus["corpus"] == "toxichat_train"]
    ids = set(chat["comment_id"])
    replies = chat[chat["parent_id"] != ""]
    assert len(replies) > 0 and replies["parent_id"].isin(ids).all()
    assert (chat["group"] == "thread:" + chat["thread_id"]).all()
    elf = corpus[corpus["corpus"] == "elf24"]
    posts = elf[elf["subset"] == "post"]
    assert posts["troll"].isna().all()
    assert elf.loc[elf["subset"] != "post", "parent_id"].isin(set(posts["comment_id"])).all()


@pytest.mark.shared
def test_ordinary_comments_teach_the_troll_head_and_tests_gain_no_troll_label(shared_data: Path) -> None:
    names = ["kaggle_insults_train", "identity_balance", "kaggle_insults_test"]
    corpus = assemble_corpus(names, root=shared_data)
    train = corpus[corpus["corpus"] == "kaggle_insults_train"]
    assert (train.loc[train["insult"] == 0, "troll"] == 0).all()
    assert train.loc[train["insult"] == 1, "troll"].isna().all()
    # Our identity sentences balance the troll head too: neutral ones 0, name-calling ones 1.
    balance = corpus[corpus["corpus"] == "identity_balance"]
    assert (balance["troll"] == balance["insult"]).all()
    assert set(balance["troll_weight"]) == {IDENTITY_TROLL_WEIGHT}
    assert corpus.loc[corpus["corpus"] == "kaggle_insults_test", "troll"].isna().all()


def test_swapping_identities_draws_other_terms_and_leaves_the_rest() -> None:
    texts = ["Go back home, Muslims and gay trolls", "nothing to see here", "HINDU pride"]
    swapped = swap_identities(texts)
    assert swapped == swap_identities(texts)  # the same draw every run
    assert swapped[1] == texts[1]
    assert swapped[0].startswith("Go back home, ") and swapped[0].endswith(" trolls")
    lowered = {term.lower() for term in IDENTITY_TERMS}
    first = swapped[0][len("Go back home, ") : -len(" trolls")]
    left, right = first.split(" and ")
    assert left.lower().removesuffix("s") in lowered and right.lower() in lowered
    assert swapped[2].lower().removesuffix(" pride") in lowered
    # Across many rows every term is drawn: the troll corpora's identities are spread out.
    drawn = {t.lower() for t in swap_identities([f"row {i}: gay" for i in range(3000)])}
    assert len(drawn) > 0.9 * len(lowered)


@pytest.mark.shared
def test_only_the_troll_corpora_and_the_teacher_s_tweets_have_their_identities_swapped(
    shared_data: Path,
) -> None:
    corpus = assemble_corpus(["trac1_train", "trac1_dev", "cyber_trolls", "davidson_texts"], root=shared_data)
    raw_dev = pd.read_csv(shared_data / "trac1_aggression" / "agr_en_dev.csv", header=None)
    dev = corpus[corpus["corpus"] == "trac1_dev"]
    assert set(dev["text"]) <= {normalize_text(t) for t in raw_dev[1].astype(str)}
    raw_train = pd.read_csv(shared_data / "trac1_aggression" / "agr_en_train.csv", header=None)
    train = corpus[corpus["corpus"] == "trac1_train"]
    hindu = r"\bhindus?\b"
    before = raw_train[1].astype(str).str.contains(hindu, case=False).sum()
    assert before > 100  # TRAC names Hindus often: the reason for the swap
    assert train["text"].str.contains(hindu, case=False).sum() < before / 5
    tweets = corpus[corpus["corpus"] == "davidson_texts"]
    # Texts only: the teacher labels them.
    assert tweets["insult"].isna().all() and tweets["troll"].isna().all()
    raw_tweets = pd.read_csv(shared_data / "davidson_hate_offensive" / "labeled_data.csv")["tweet"]
    black = r"\bblacks?\b"
    before = raw_tweets.astype(str).str.contains(black, case=False).sum()
    assert before > 100
    assert tweets["text"].str.contains(black, case=False).sum() < before / 5


def test_best_threshold_maximises_the_weighted_f_beta() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.35 * y + rng.normal(0.4, 0.2, 400), 0, 1).round(2)
    w = rng.choice([0.3, 1.0], 400)
    for beta in (1.0, 0.5, 2.0):
        chosen = best_threshold(y, p, w, beta=beta)
        scores = {t: fbeta_score(y, p >= t, beta=beta, sample_weight=w) for t in np.unique(p)}
        assert scores[chosen] == pytest.approx(max(scores.values()))
    # Weighing precision more never lowers the threshold here.
    assert best_threshold(y, p, w, beta=0.5) >= best_threshold(y, p, w, beta=1.0)


@pytest.mark.shared
@pytest.mark.slow
def test_train_cli_is_reproducible_and_writes_a_card(shared_data: Path, tmp_path: Path) -> None:
    shas, cards = [], []
    for run in ("a", "b"):
        out = tmp_path / run
        result = subprocess.run(
            [sys.executable, "-m", "moderation.cli", "train", "--data", "kaggle_insults_train,trac1_train",
             "--output", str(out), "--version", "small"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        announced = [
            line.removeprefix(config.STAGE_PREFIX).split(" on ")[0].split(":")[0]
            for line in result.stdout.splitlines()
            if line.startswith(config.STAGE_PREFIX)
        ]  # what a background job's log shows as its progress
        assert announced == [
            "reading the corpora", "teacher targets", "fitting the insult head", "fitting the troll head",
            "choosing the thresholds", "evaluating", "saving",
        ]  # fmt: skip
        card = json.loads((out / "small" / config.MODEL_CARD).read_text())
        shas.append(card["files"][config.MODEL_ARTIFACT]["sha256"])
        cards.append(card)
    # Same data, same seeds: the same model. Two runs once differed by up to 0.0034 in a score;
    # the likely cause, since fixed, was masked words ("s**t") unmasking by a set's order, which
    # follows PYTHONHASHSEED (each process its own). Training also runs its BLAS/OpenMP
    # reductions on one thread. Differing bytes must still give the same scores to 0.01 and the
    # same test AUCs to 0.002.
    assert cards[0]["training_data"]["sha256"] == cards[1]["training_data"]["sha256"]
    if shas[0] != shas[1]:
        texts = assemble_corpus(["kaggle_insults_test"], root=shared_data)["text"].tolist()
        a, b = (load_model(tmp_path / run / "small").score_texts(texts) for run in ("a", "b"))
        assert np.abs(a.to_numpy() - b.to_numpy()).max() < 0.01
        for name, figures in cards[0]["metrics"].items():
            if figures.get("auc") is not None:
                assert abs(figures["auc"] - cards[1]["metrics"][name]["auc"]) < 0.002, name
    assert [c["name"] for c in card["training_data"]["corpora"]] == ["kaggle_insults_train", "trac1_train"]
    assert card["labels"] == LABEL_DEFINITIONS
    assert {"kaggle_insults_public", "kaggle_insults_private", "elf24_troll"} <= set(card["metrics"])
    assert 0 < card["thresholds"]["insult"] < 1 and 0 < card["thresholds"]["troll"] < 1
    versions = {"fold": FOLD_VERSION, "lexicon": LEXICON_VERSION, "context": CONTEXT_VERSION}
    assert card["feature_versions"] == versions
    # No test comment (nor a duplicate of one, from any test split) was trained on.
    train = assemble_corpus(["kaggle_insults_train", "trac1_train"], root=shared_data)
    test_names = [n for n, c in CORPORA.items() if c.split == "test"]
    test = assemble_corpus(test_names, root=shared_data)
    leaked = np.isin(text_groups(train["text"]), text_groups(test["text"]))
    assert leaked.sum() > 0  # the Kaggle train and test files share a few texts
    assert card["training_data"]["rows"] == len(train) - leaked.sum()


@pytest.mark.parametrize(
    ("options", "message", "hint"),
    [
        (["--teacher-table", "teacher_v0"], "unknown teacher table", "--teacher-table teacher_v1"),
        (["--teacher-table", "teacher_v1", "--no-teacher"], "--no-teacher trains without one", "drop one"),
    ],
)
def test_train_cli_refuses_a_teacher_table_it_cannot_use(
    tmp_path: Path, options: list[str], message: str, hint: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moderation.cli", "train", *options, "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr and hint in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # refused before reading a corpus


@pytest.mark.shared
def test_scores_are_recalibrated_to_the_moderators_labels(shared_data: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from moderation.training import MODERATORS, heldout_mask, train_model

    # A site whose moderators call far fewer comments insults than Kaggle's raters: Kaggle's test
    # comments with four in five of their insults left out. A model trained on Kaggle's train
    # file over-predicts there, by the same odds for every comment. (TRAC-1 only gives the troll head rows.)
    site = assemble_corpus(["kaggle_insults_test"], root=shared_data)
    rng = np.random.default_rng(config.SEED)
    site = site[(site["insult"] == 0) | (rng.random(len(site)) < 0.2)].reset_index(drop=True)
    labels = site[["text", "insult"]].assign(
        corpus=MODERATORS, group=[f"thread:{i % 200}" for i in range(len(site))]
    )
    model = train_model(
        data="kaggle_insults_train,trac1_train",
        root=shared_data,
        extra=labels,
        evaluate_tests=False,
        params={"distillation": None},  # the calibration is the point here, not the teacher
    )

    calibration = model.card["site_calibration"]
    insult, troll = calibration["insult"], calibration["troll"]
    assert insult["applied"] and insult["a"] >= 0 and insult["b"] >= 0
    assert not troll["applied"] and "need 30 of each" in troll["why"]  # no troll labels at all
    # Judged on the held-out threads' labels, which the map never saw.
    assert insult["heldout_rows"] == int(heldout_mask(labels["group"]).sum())
    assert insult["heldout_ece_after"] < insult["heldout_ece_before"]
    # The map is monotone: it changes the probabilities, not the order of the comments.
    held = labels[heldout_mask(labels["group"])]
    calibrated = model.score_texts(held["text"].tolist())["insult_score"].to_numpy()
    model.site_calibration = {}
    raw = model.score_texts(held["text"].tolist())["insult_score"].to_numpy()
    y = held["insult"].to_numpy(dtype=int)
    assert calibrated.mean() < raw.mean()
    assert roc_auc_score(y, calibrated) == pytest.approx(roc_auc_score(y, raw), abs=1e-9)


@pytest.mark.shared
def test_the_teacher_s_targets_train_the_insult_head_but_choose_no_threshold(shared_data: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from moderation.distill import soft_targets, teacher_table
    from moderation.training import DEFAULT_PARAMS, _fit_heads

    kaggle = assemble_corpus(["kaggle_insults_train"], root=shared_data)
    trac = assemble_corpus(["trac1_train"], root=shared_data).sample(4000, random_state=config.SEED)
    train = pd.concat([kaggle, trac], ignore_index=True)
    target, weight, distilled = soft_targets(
        train, text_groups(train["text"]), **DEFAULT_PARAMS["distillation"]
    )
    assert distilled["by_corpus"]["kaggle_insults_train"]["softened"] >= 0.99 * len(kaggle)
    # (The table leaves out the texts that duplicate a test split: 1.3% of TRAC's.)
    assert distilled["by_corpus"]["trac1_train"]["filled"] >= 0.98 * len(trac)
    params = {"text_features": {"bits": 16}, "insult_head": {"C": 2.0, "solver": "lbfgs"}}
    taught, _ = _fit_heads(train, params=params, insult_targets=(target, weight))
    plain, _ = _fit_heads(train, params=params)
    # The out-of-fold scores that choose the thresholds (and the site calibration) are those of
    # the rows with an insult label of their own, the same rows with or without the teacher: its
    # TRAC texts choose nothing.
    for model in (taught, plain):
        assert len(model.insult_head.oof_proba_) == len(kaggle)
    assert not np.allclose(taught.insult_head.oof_proba_, plain.insult_head.oof_proba_)
    # And the head learned from them: on TRAC texts it never trained on, it ranks as the teacher
    # does more closely than the head that never saw the teacher's targets.
    unseen = assemble_corpus(["trac1_train"], root=shared_data).drop(trac.index).head(3000)
    probabilities, _ = teacher_table(DEFAULT_PARAMS["distillation"]["teacher"])
    teacher = probabilities.reindex(group_keys(text_groups(unseen["text"]))).to_numpy()
    known = ~np.isnan(teacher)
    agrees = {}
    for name, model in (("taught", taught), ("plain", plain)):
        scores = model.score_texts(unseen["text"].tolist())["insult_score"].to_numpy()
        agrees[name] = roc_auc_score(teacher[known] > 0.5, scores[known])
    # (About 0.98 against 0.95: the rank disagreement with the teacher more than halves.)
    assert 1 - agrees["taught"] < 0.67 * (1 - agrees["plain"]), agrees
