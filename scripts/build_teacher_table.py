"""Build the teacher table that distillation reads (``moderation/teacher_v2.npz``).

The teacher is a better insult scorer than the shipped model, too slow to ship: the blend of two
models:

1. the n-gram model: a logistic regression on the default hashed word and character n-grams
   (``DEFAULT_PARAMS``), C=2;
2. the encoder model: sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) fine-tuned, with a
   logistic head on its mean-pooled last layer, for ``EPOCHS`` epoch(s) on the rows (first 128
   word pieces; AdamW at ``LEARNING_RATE``, linear warm-up and decay, each row's loss weighted
   by its corpus weight);
3. each one's decision z-scored over its grouped ``FOLDS``-fold out-of-fold scores, averaged
   with the weight on the encoder that scores best out of fold (``BLENDS``), and Platt-scaled
   on those out-of-fold scores.

Both learn from the default training corpora's insult-labelled rows, test splits and their
duplicates left out (as ``moderation train`` leaves them out). The identity balance sentences
are among them: the student keeps their labels whole (``distill.HARD_LABEL_CORPORA``), but a
teacher that never saw them taught the student to flag counter-speech ("Black people are not
stupid, and saying so is wrong."): the bias audit flagged 26 identity terms. With them it
flagged 3 (Black, mentally ill, homosexual) with the insult head's C at 2, and none at 3,
which 2026.12-v9 shipped with (figures in ``DEFAULT_PARAMS``).

The table holds one probability per text group (``text_groups``): the out-of-fold one for an
insult-labelled training text (no text is scored by a teacher that saw it), and for a text
that no corpus labels for insult (TRAC and cyber-trolls; the Davidson tweets too, for a run
that adds them) the blend of the full n-gram model with the mean of the fold encoders.
``moderation.distill`` turns them into soft targets.

teacher_v1 (``teacher_v1.npz``, which 2026.12-v8 learnt from) had a frozen encoder
instead: a logistic regression over the normalised sentence embedding, C=0.5, blended half and
half over 5 folds; it was built by this script at commit 132127e.

Needs the ``semantic-build`` extra, as ``build_semantic_table.py`` does::

    pip install torch==2.13.0 && pip install -e '.[semantic-build]'
    python scripts/build_teacher_table.py

It takes 25-35 minutes on two cores, almost all of it fine-tuning and scoring with the encoder.
Then pin the printed sha256 in ``moderation.distill.TEACHER_TABLES`` and retrain
(``moderation train``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from build_semantic_table import ENCODER_SHA256, encoder_path
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from moderation import config, distill
from moderation.classifier import zero_columns
from moderation.features import HashedTextFeatures
from moderation.training import (
    CORPORA,
    DEFAULT_PARAMS,
    TEST_SPLITS,
    _semantic_columns,
    assemble_corpus,
    resolve_data_spec,
    without_duplicates_of,
)

TABLE = "teacher_v2"
FOLDS = 3
#: Encoder weights tried in the blend; the one with the best out-of-fold AUC is kept.
BLENDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
NGRAM_C = 2.0
EPOCHS = 1
LEARNING_RATE = 5e-5
BATCH = 32
MAX_SEQ_LENGTH = 128
#: The texts the table covers: the default corpora, and the Davidson tweets for a training run
#: that adds them (``--data default,+davidson_texts``). They carry no insult label, so the
#: teacher learns from the default corpora's labelled rows alone.
TEACHER_DATA = "default,+davidson_texts"


class Encoder:
    """The pinned encoder with a logistic head, fine-tuned on weighted binary labels."""

    def __init__(self, seed: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.manual_seed(seed)
        folder = str(encoder_path())
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.body = AutoModel.from_pretrained(folder)
        self.head = torch.nn.Linear(self.body.config.hidden_size, 1)
        self.rng = np.random.default_rng(seed)

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=MAX_SEQ_LENGTH)["input_ids"]

    def _logits(self, ids: list[list[int]], rows: list[int]):  # -> torch.Tensor
        import torch

        width = max(len(ids[i]) for i in rows)
        tokens = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for r, i in enumerate(rows):
            tokens[r, : len(ids[i])] = torch.tensor(ids[i])
            mask[r, : len(ids[i])] = 1
        hidden = self.body(input_ids=tokens, attention_mask=mask).last_hidden_state
        keep = mask.unsqueeze(-1).float()
        return self.head((hidden * keep).sum(1) / keep.sum(1)).squeeze(-1)

    def _batches(self, ids: list[list[int]]) -> list[list[int]]:
        # Rows of like length share a batch (less padding): shuffle, sort within runs of 50
        # batches, then shuffle the batches.
        order = self.rng.permutation(len(ids)).tolist()
        batches = []
        for start in range(0, len(order), BATCH * 50):
            run = sorted(order[start : start + BATCH * 50], key=lambda i: len(ids[i]))
            batches += [run[k : k + BATCH] for k in range(0, len(run), BATCH)]
        self.rng.shuffle(batches)
        return batches

    def fit(self, texts: list[str], y: np.ndarray, w: np.ndarray) -> Encoder:
        import torch

        ids = self._ids(texts)
        target = torch.tensor(y, dtype=torch.float32)
        weight = torch.tensor(w, dtype=torch.float32)
        parameters = [*self.body.parameters(), *self.head.parameters()]
        optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=0.01)
        total = EPOCHS * math.ceil(len(ids) / BATCH)
        warm = max(1, int(0.06 * total))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, s / warm) * max(0.0, (total - s) / (total - warm))
        )
        self.body.train()
        started = time.perf_counter()
        for epoch in range(EPOCHS):
            for step, rows in enumerate(self._batches(ids)):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    self._logits(ids, rows), target[rows], reduction="none"
                )
                loss = (loss * weight[rows]).sum() / weight[rows].sum()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                if step % 100 == 0:
                    print(f"  epoch {epoch + 1} step {step} loss {loss.item():.3f} "
                          f"{time.perf_counter() - started:.0f} s", flush=True)
        return self

    def decision_function(self, texts: list[str]) -> np.ndarray:
        import torch

        self.body.eval()
        ids = self._ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        scores = np.zeros(len(ids))
        with torch.no_grad():
            for start in range(0, len(order), 128):
                rows = order[start : start + 128]
                scores[rows] = self._logits(ids, rows).numpy()
        return scores


def by_text(score, texts: list[str]) -> np.ndarray:
    """``score`` over the distinct texts only, spread back to every row."""
    distinct, where = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return np.asarray(score(distinct.tolist()))[where]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(distill.__file__).with_name(f"{TABLE}.npz")
    parser.add_argument("--output", type=Path, default=default)
    parser.add_argument("--sample", type=int, help="use only this many training and test rows (quick check)")
    args = parser.parse_args()
    started = time.perf_counter()
    root = config.SHARED_DATA_DIR
    train = assemble_corpus(resolve_data_spec(TEACHER_DATA), root=root)
    test_names = [n for n, c in CORPORA.items() if c.split == "test"]
    tests = assemble_corpus(test_names, root=root)
    train, groups_by_text = without_duplicates_of(train, tests["text"])
    if args.sample:
        rng = np.random.default_rng(config.SEED)
        keep = np.sort(rng.choice(len(train), size=min(args.sample, len(train)), replace=False))
        train, groups_by_text = train.iloc[keep].reset_index(drop=True), groups_by_text[keep]
        tests = tests.sample(n=min(args.sample, len(tests)), random_state=config.SEED).reset_index(drop=True)
    texts = train["text"].tolist()

    features = HashedTextFeatures(**DEFAULT_PARAMS["text_features"]).fit(texts)
    _, other = _semantic_columns(features, "insult")
    X = zero_columns(features.transform(texts), other)
    X_tests = zero_columns(features.transform(tests["text"].tolist()), other)

    labelled = train["insult"].notna().to_numpy()
    unlabelled = ~labelled & (train["corpus"] != "identity_balance").to_numpy()
    y = train.loc[labelled, "insult"].to_numpy(dtype=int)
    w = train.loc[labelled, "insult_weight"].to_numpy()
    groups = train.loc[labelled, "group"].to_numpy()
    labelled_texts = [t for t, keep in zip(texts, labelled, strict=True) if keep]
    unlabelled_texts = [t for t, keep in zip(texts, unlabelled, strict=True) if keep]
    # Every text the fold encoders score beyond their held-out rows: one pass each.
    taught_texts = unlabelled_texts + tests["text"].tolist()

    def ngram() -> LogisticRegression:
        return LogisticRegression(C=NGRAM_C, solver="liblinear", max_iter=2000, random_state=config.SEED)

    oof = np.zeros((len(y), 2))
    taught_encoder = np.zeros(len(taught_texts))
    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=config.SEED)
    for fold, (fit, held) in enumerate(folds.split(X[labelled], y, groups)):
        print(f"fold {fold + 1}/{FOLDS}: {len(fit):,} rows to learn from, {len(held):,} held out", flush=True)
        oof[held, 0] = ngram().fit(X[labelled][fit], y[fit], sample_weight=w[fit]).decision_function(
            X[labelled][held]
        )
        encoder = Encoder(config.SEED + fold).fit([labelled_texts[i] for i in fit], y[fit], w[fit])
        oof[held, 1] = by_text(encoder.decision_function, [labelled_texts[i] for i in held])
        taught_encoder += by_text(encoder.decision_function, taught_texts) / FOLDS
        print(f"  {time.perf_counter() - started:.0f} s in all", flush=True)
    scale = oof.std(axis=0)

    def blend_auc(weight: float) -> float:
        return float(roc_auc_score(y, oof @ (np.asarray([1.0 - weight, weight]) / scale), sample_weight=w))

    blend = max(BLENDS, key=blend_auc)
    mix = np.asarray([1.0 - blend, blend]) / scale
    platt = LogisticRegression(C=1e6, max_iter=1000).fit((oof @ mix).reshape(-1, 1), y, sample_weight=w)
    full_ngram = ngram().fit(X[labelled], y, sample_weight=w)

    def teach(M: object, encoder_scores: np.ndarray) -> np.ndarray:
        z = np.column_stack([full_ngram.decision_function(M), encoder_scores]) @ mix
        return platt.predict_proba(z.reshape(-1, 1))[:, 1]

    n_unlabelled = len(unlabelled_texts)
    keys = distill.group_keys(groups_by_text)
    out_of_fold = pd.Series(platt.predict_proba((oof @ mix).reshape(-1, 1))[:, 1], index=keys[labelled])
    taught = pd.Series(teach(X[unlabelled], taught_encoder[:n_unlabelled]), index=keys[unlabelled])
    # A labelled text's out-of-fold probability wins over the full teacher's for the same text.
    table = pd.concat([out_of_fold.groupby(level=0).mean(), taught.groupby(level=0).mean()])
    table = table[~table.index.duplicated(keep="first")].sort_index()

    oof_auc = {
        name: round(float(roc_auc_score(y, scores, sample_weight=w)), 4)
        for name, scores in (("ngram", oof[:, 0]), ("encoder", oof[:, 1]), ("teacher", oof @ mix))
    }
    test_scores = teach(X_tests, taught_encoder[n_unlabelled:])
    test_auc = {}
    for name, corpus, label, subset in TEST_SPLITS:
        rows = (tests["corpus"] == corpus).to_numpy() & tests[label].notna().to_numpy() & (label == "insult")
        if subset:
            rows &= (tests["subset"] == subset).to_numpy()
        if rows.any():
            auc = roc_auc_score(tests.loc[rows, label].astype(int), test_scores[rows])
            test_auc[name] = round(float(auc), 4)
    metadata = {
        "built_by": "scripts/build_teacher_table.py",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), fine-tuned, first 128 word pieces",
        "encoder_sha256": ENCODER_SHA256,
        "trained_on": "default corpora, insult-labelled rows, test splits and their duplicates left out",
        "models": {
            "ngram": f"LogisticRegression(C={NGRAM_C}, liblinear) on DEFAULT_PARAMS text_features",
            "encoder": f"fine-tuned {EPOCHS} epoch(s), AdamW lr {LEARNING_RATE:g}, batch {BATCH}, "
            "logistic head on the mean-pooled last layer",
            "blend": f"z-scored decisions, {blend:g} encoder (best out-of-fold AUC of {list(BLENDS)}); "
            f"Platt-scaled on grouped {FOLDS}-fold out-of-fold scores; texts no corpus labels for "
            "insult: the full n-gram model with the mean of the fold encoders",
        },
        "labelled_texts": int(out_of_fold.index.nunique()),
        "unlabelled_texts": int(len(table) - out_of_fold.index.nunique()),
        "out_of_fold_auc": oof_auc,
        "test_auc": test_auc,
    }
    print(json.dumps(metadata, indent=2))
    np.savez_compressed(
        args.output,
        keys=table.index.to_numpy(dtype=np.uint64),
        insult=table.to_numpy(dtype=np.float32),
        metadata=np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), dtype=np.uint8),
    )
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size:.1f} MB, {len(table):,} texts), sha256 {digest}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
