"""Distillation: soft targets from the teacher table, and how they train (``moderation.distill``)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderation import distill
from moderation.distill import _compute_soft_targets, expand_soft, group_keys, read_table, teacher_table
from moderation.errors import ModelError
from moderation.training import DEFAULT_PARAMS, assemble_corpus, resolve_data_spec, text_groups

TEACHER = DEFAULT_PARAMS["distillation"]["teacher"]


def test_a_hard_target_stays_one_row_and_a_soft_one_splits_its_weight() -> None:
    labels, weights, origin = expand_soft(np.array([1.0, 0.0, 0.25, 1.0]), np.array([1.0, 2.0, 4.0, 0.5]))
    assert origin.tolist() == [0, 1, 2, 2, 3]  # input order kept, the soft row twice
    assert labels.tolist() == [1, 0, 1, 0, 1]
    assert weights.tolist() == [1.0, 2.0, 1.0, 3.0, 0.5]
    # The weighted mean label of a row's copies is its target.
    assert np.average(labels[origin == 2], weights=weights[origin == 2]) == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [np.nan, -0.1, 1.5])
def test_a_target_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="within"):
        expand_soft(np.array([0.5, bad]), np.ones(2))


def test_group_keys_read_text_groups_and_give_other_groups_no_key() -> None:
    groups = text_groups(["You idiot", "a thread reply"])
    keys = group_keys([*groups, "thread:42", "identity:1:3"])
    assert keys.dtype == np.uint64
    assert keys[0] == int(groups[0][2:], 16) and keys[1] == int(groups[1][2:], 16)
    assert keys[2] == 0 and keys[3] == 0


def test_labelled_rows_keep_their_share_and_unlabelled_ones_take_the_teacher() -> None:
    nan = np.nan
    target, weight, softened, filled = _compute_soft_targets(
        label=np.array([1.0, 0.0, nan, nan, 1.0, 0.0]),
        weight=np.array([1.0, 0.3, 1.0, 1.0, 0.8, 1.0]),
        taught=np.array([0.2, 0.9, 0.6, nan, 0.1, nan]),
        hard=np.array([False, False, False, False, True, False]),
        label_share=0.5,
        unlabelled_weight=0.3,
    )
    assert target[:3].tolist() == pytest.approx([0.6, 0.45, 0.6])
    assert np.isnan(target[3])  # neither a label nor a teacher: not an insult row
    assert target[4] == 1.0 and target[5] == 0.0  # a hard-label corpus, and a text the teacher lacks
    assert weight.tolist() == pytest.approx([1.0, 0.3, 0.3, 1.0, 0.8, 1.0])
    assert softened.tolist() == [True, True, False, False, False, False]
    assert filled.tolist() == [False, False, True, False, False, False]


def _write_table(path: Path, keys: list[int], insult: list[float]) -> str:
    buffer = io.BytesIO()
    metadata = np.frombuffer(json.dumps({"built_by": "test"}).encode(), dtype=np.uint8)
    np.savez(buffer, keys=np.asarray(keys, dtype=np.uint64), insult=np.asarray(insult), metadata=metadata)
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def test_a_table_is_read_only_when_its_sha256_is_the_pinned_one(tmp_path: Path) -> None:
    path = tmp_path / "teacher.npz"
    digest = _write_table(path, [3, 7], [0.25, 0.75])
    probabilities, metadata = read_table(path, digest)
    assert probabilities.to_dict() == {3: 0.25, 7: 0.75} and metadata == {"built_by": "test"}
    _write_table(path, [3, 7], [0.25, 0.99])  # tampered with
    with pytest.raises(ModelError, match="not the pinned one") as caught:
        read_table(path, digest)
    assert "build_teacher_table.py" in caught.value.hint
    with pytest.raises(ModelError, match="missing"):
        read_table(tmp_path / "absent.npz", digest)


def test_a_table_with_a_text_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "teacher.npz"
    digest = _write_table(path, [3, 3], [0.25, 0.75])
    with pytest.raises(ModelError, match="twice"):
        read_table(path, digest)


@pytest.mark.parametrize("name", sorted(distill.TEACHER_TABLES))
def test_the_shipped_teacher_tables_are_pinned_and_hold_probabilities(name: str) -> None:
    probabilities, metadata = teacher_table(name)
    assert len(probabilities) > 50_000
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert (probabilities.index != 0).all()
    # The teacher beat both models it blends, out of fold on the training rows.
    auc = metadata["out_of_fold_auc"]
    assert auc["teacher"] > max(value for model, value in auc.items() if model != "teacher"), auc
    with pytest.raises(ModelError, match="unknown teacher"):
        teacher_table("teacher_v0")


@pytest.mark.shared
def test_the_teacher_covers_the_default_corpora_but_not_the_test_splits(shared_data: Path) -> None:
    train = assemble_corpus(resolve_data_spec("default,+davidson_texts"), root=shared_data)
    tests = assemble_corpus(["kaggle_insults_test", "olid_test", "socc"], root=shared_data)
    probabilities, _ = teacher_table(TEACHER)
    test_groups = set(text_groups(tests["text"]))
    train = train[~pd.Series(text_groups(train["text"])).isin(test_groups).to_numpy()]
    target, weight, stats = distill.soft_targets(
        train, text_groups(train["text"]), teacher=TEACHER, label_share=0.5, unlabelled_weight=0.3
    )
    real = ~train["corpus"].isin(distill.HARD_LABEL_CORPORA).to_numpy()
    # Every corpus row is softened or taught (identities swapped the same way as at build time).
    assert stats["softened_rows"] + stats["filled_rows"] >= 0.99 * real.sum()
    assert stats["by_corpus"]["davidson_texts"]["filled"] > 20_000
    insult = train["insult"].to_numpy()
    assert (target[~real] == insult[~real]).all()  # the identity-balance sentences keep their labels
    taught = np.isnan(insult) & ~np.isnan(target)
    assert taught.sum() == stats["filled_rows"] and (weight[taught] == 0.3).all()
    assert not np.isin(group_keys(list(test_groups)), probabilities.index.to_numpy()).any()
