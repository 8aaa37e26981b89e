"""Label issues: planted flips in a Kaggle sample are found, wrong moderators' labels in the store
are flagged and stored (each run replacing the last), and the CLI writes a formula-safe CSV and
refuses a bad --label with a hint, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from moderation import config
from moderation.cli import main
from moderation.errors import ModerationError
from moderation.label_issues import (
    SUSPECT_COLUMNS,
    find_suspects,
    out_of_fold_proba,
    store_label_issues,
    stored_label_issues,
)
from moderation.review import User, comment, relabel
from moderation.store import ingest_files, label_issues, open_store

ALICE = User("alice", "moderator")
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_comments.jsonl"

#: Demo comments given a deliberately wrong insult label, and ones given the right one.
WRONG = {"s3": "no", "s5": "no", "s10": "no", "c6": "yes", "r6": "yes"}
RIGHT = {"t5": "yes", "c1": "no", "c2": "no", "c3": "no", "r2": "no", "t1": "no"}


def _label(store, labels: dict[str, str], label: str = "insult") -> None:
    for comment_id, value in labels.items():
        version = int(comment(store, comment_id)["version"])
        relabel(store, ALICE, comment_id, label=label, value=value, expected_version=version)


@pytest.mark.shared
def test_planted_flips_are_among_the_top_suspects(shared_data: Path) -> None:
    from moderation.training import assemble_corpus

    corpus = assemble_corpus(["kaggle_insults_train"])
    rng = np.random.default_rng(config.SEED)
    sample = corpus.iloc[rng.choice(len(corpus), 3000, replace=False)].reset_index(drop=True)
    flipped = rng.choice(len(sample), 100, replace=False)
    sample.loc[flipped, "insult"] = 1.0 - sample.loc[flipped, "insult"]

    suspects = find_suspects(sample, "insult")
    assert list(suspects.columns) == list(SUSPECT_COLUMNS)
    assert suspects["rank"].tolist() == list(range(1, len(suspects) + 1))
    # Ranked by self-confidence: the probability of the given label, lowest first.
    assert suspects["self_confidence"].is_monotonic_increasing
    given = sample.loc[suspects.index, "insult"].map({0.0: "no", 1.0: "yes"})
    assert (suspects["given"] == given).all() and (suspects["suggested"] != suspects["given"]).all()
    found = len(set(suspects.index[:300]) & set(flipped))
    assert found >= 70, f"only {found} of the 100 flipped labels are among the top 300 suspects"
    # Most of the 2,900 untouched labels are not suspects.
    assert len(suspects) < 600


def test_out_of_fold_probabilities_never_see_their_own_row() -> None:
    # Each text occurs in two rows with opposite labels, in one group: a model that saw one
    # copy would be pulled towards its label; out of fold, both copies get the same score.
    texts = [f"comment number {i} about {'idiots' if i % 2 else 'gardens'}" for i in range(40)] * 2
    y = np.r_[np.arange(40) % 2, 1 - np.arange(40) % 2]
    groups = np.r_[np.arange(40), np.arange(40)].astype(str)
    proba = out_of_fold_proba(texts, y, groups, folds=4)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:40], proba[40:])


def test_too_few_labels_is_an_error_with_a_hint() -> None:
    with pytest.raises(ModerationError, match="too few labelled rows") as error:
        out_of_fold_proba(["a", "b", "c"], [0, 0, 1], ["g1", "g2", "g3"])
    assert "--data default" in error.value.hint


@pytest.mark.shared
def test_wrong_moderator_labels_are_flagged_stored_and_replaced(store, shared_data: Path) -> None:
    _label(store, {**WRONG, **RIGHT})
    first = store_label_issues(store, label="insult", data="kaggle_insults_train")
    ours = first[first["comment_id"] != ""]
    # The moderators' suspects come first, each with its thread so the queue can open it.
    assert (first["comment_id"] != "").iloc[: len(ours)].all()
    assert (ours["thread_id"] != "").all()
    flagged = set(ours["comment_id"])
    assert len(flagged & set(WRONG)) >= 3, ours
    assert not flagged & set(RIGHT), ours
    for row in ours.itertuples():
        assert row.given == WRONG[row.comment_id] and row.suggested != row.given
        assert row.insult_label == row.given  # the comment's current label
    assert len(first) > len(ours)  # corpus suspects too, with their corpus named
    assert set(first.loc[first["comment_id"] == "", "corpus"]) == {"kaggle_insults_train"}
    stored = store.read(sa.select(label_issues))
    assert len(stored) == len(first) and stored["run_id"].nunique() == 1

    # A moderator fixes one label; the next run replaces the table and no longer lists it.
    fixed = next(iter(flagged & set(WRONG)))
    _label(store, {fixed: "yes" if WRONG[fixed] == "no" else "no"})
    second = store_label_issues(store, label="insult", data="kaggle_insults_train")
    stored = store.read(sa.select(label_issues))
    assert len(stored) == len(second) and stored["run_id"].nunique() == 1
    assert stored["run_id"].iloc[0] != first["run_id"].iloc[0]
    assert fixed not in set(second["comment_id"])
    assert stored_label_issues(store, label="troll").empty
    page = stored_label_issues(store, moderators_only=True, limit=2)
    assert page["comment_id"].tolist() == second["comment_id"].iloc[:2].tolist()


def test_a_store_at_migration_0002_gains_the_label_issues_table(db_url: str) -> None:
    from moderation.store import _create_engine, _migrate

    engine = _create_engine(db_url)
    _migrate(engine, target="0002_audit_append_only")
    assert not sa.inspect(engine).has_table("label_issues")  # 0001 creates only its own tables
    engine.dispose()
    with open_store(db_url) as store:
        assert sa.inspect(store.engine).has_table("label_issues")
        assert stored_label_issues(store).empty


def test_nothing_labelled_is_an_error_with_a_hint(store) -> None:
    with pytest.raises(ModerationError, match="nothing is labelled") as error:
        store_label_issues(store, label="troll")
    assert "--data default" in error.value.hint


@pytest.mark.shared
def test_cli_writes_a_formula_safe_csv_and_prints_the_suspects(
    tmp_path: Path, model, shared_data: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    hostile = tmp_path / "hostile.jsonl"
    formula = '=HYPERLINK("http://example.invalid") you are a complete idiot and a moron'
    hostile.write_text(json.dumps({"id": "h1", "thread_id": "h", "text": formula}) + "\n", encoding="utf-8")
    with open_store(url) as store:
        ingest_files(store, [DEMO, hostile], model=model, rejects_path=tmp_path / "r.jsonl")
        _label(store, {**WRONG, **RIGHT, "h1": "no"})
    out = tmp_path / "suspects.csv"
    # ToxiChat rows carry comment ids of their own source: they must not pass for store comments.
    data = "kaggle_insults_train,toxichat_train"
    main(["label-issues", "--db", url, "--label", "insult", "--data", data, "-o", str(out)])
    printed = capsys.readouterr().out.splitlines()
    written = pd.read_csv(out, keep_default_na=False)
    ours = written[written["corpus"] == "moderators"]
    assert set(written["corpus"]) == {"moderators", "kaggle_insults_train", "toxichat_train"}
    assert (written.loc[written["corpus"] != "moderators", "comment_id"] == "").all()
    assert printed[0].startswith(f"{len(written):,} suspects ({len(ours):,} among the moderators' labels)")
    assert len(printed) == 1 + config.LABEL_ISSUE_PRINTED + 1 and printed[-1].startswith("wrote")
    assert list(written.columns[: len(SUSPECT_COLUMNS)]) == list(SUSPECT_COLUMNS)
    row = written[written["comment_id"] == "h1"]
    assert len(row) == 1 and row["text"].iloc[0] == "'" + formula


@pytest.mark.parametrize("args", [["--label", "spam"], ["--label", "insult", "-o", "out.xlsx"]])
def test_cli_bad_options_exit_1_with_a_hint(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["label-issues", "--db", f"sqlite:///{tmp_path / 'm.db'}", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert ("--label insult" in err) if "spam" in args else (".csv, .jsonl or .parquet" in err)
    assert not (tmp_path / "m.db").exists()  # refused before the store is touched
