"""Model selection for the insult head by grouped cross-validation, with speed beside quality.

Candidates (all on the default training corpora, the same sample weights):
- ``tfidf_lr``: word (1,2) + char_wb (2,5) TF-IDF (sklearn vocabularies) with logistic regression;
- ``nbsvm``: the same features scaled by NB log-count ratios, then logistic regression;
- ``hashed_sgd``: our hashed word+char features with an SGD logistic model;
- ``hashed_lr``: our hashed word+char features with logistic regression (shipped until 2026.11-v3);
- ``hashed_lr_char35``: as above with char (3,5), a quarter fewer n-grams to score;
- ``hashed_lr_chunks``: char n-grams inside space-separated chunks (``char_windows="chunks"``,
  as sklearn's char_wb), scored once per distinct chunk of a frame;
- ``hashed_lr_chunks_w13``: the same with word (1,3) n-grams (the shipped design since 2026.12-v4);
- ``hashed_words``: word n-grams only (the cheap first stage a cascade would use).
Grouped 5-fold CV (groups: thread, or duplicate folded text) gives the AUC on each training
corpus's held-out folds; the test splits (never trained on) give out-of-site AUCs; rows/s is the
featurise-and-score speed of the fitted candidate on 20,000 test texts, one core.
Usage: python bench/bench_model_selection.py [--candidates a,b] [--folds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, pin_to_one_core, save_results

from moderation import config
from moderation.features import HashedTextFeatures, TextFeatures
from moderation.training import CORPORA, assemble_corpus, resolve_data_spec, without_duplicates_of


def _nb_ratio(X: sparse.csr_matrix, y: np.ndarray) -> np.ndarray:
    binary = (X > 0).astype(np.float64)
    p = np.asarray(binary[y == 1].sum(axis=0)).ravel() + 1.0
    q = np.asarray(binary[y == 0].sum(axis=0)).ravel() + 1.0
    return np.log((p / p.sum()) / (q / q.sum()))


class Candidate:
    def __init__(self, name: str, features, model: str) -> None:
        self.name, self.features_template, self.model = name, features, model

    def fit(self, texts: list[str], y: np.ndarray, w: np.ndarray) -> Candidate:
        from sklearn.base import clone

        self.features = clone(self.features_template).fit(texts)
        X = self.features.transform(texts)
        self.ratio = None
        if self.model == "nbsvm":
            self.ratio = _nb_ratio(X, y)
            X = X.multiply(self.ratio).tocsr()
        if self.model == "hashed_nbsvm":
            from moderation.classifier import CalibratedLinearHead

            # Our head with naive Bayes scaling folded into its coefficients (free at scoring).
            self.linear = CalibratedLinearHead(C=2.0, nb_scaling=True, calibration=None).fit(
                X, y, sample_weight=w
            )
            return self
        if self.model == "sgd":
            self.linear = SGDClassifier(
                loss="log_loss", alpha=2e-6, max_iter=30, tol=None, random_state=config.SEED
            ).fit(X, y, sample_weight=w)
        else:
            self.linear = LogisticRegression(C=2.0, solver="liblinear", max_iter=3000).fit(
                X, y, sample_weight=w
            )
        return self

    def decision(self, texts: list[str]) -> np.ndarray:
        if isinstance(self.features, HashedTextFeatures) and self.ratio is None:
            table = self.features.prepare_linear(self.linear.coef_)
            return self.features.linear_scores(texts, table)[:, 0] + self.linear.intercept_[0]
        X = self.features.transform(texts)
        if self.ratio is not None:
            X = X.multiply(self.ratio).tocsr()
        return self.linear.decision_function(X)


CANDIDATES = {
    "tfidf_lr": lambda: Candidate("tfidf_lr", TextFeatures(), "lr"),
    "nbsvm": lambda: Candidate("nbsvm", TextFeatures(), "nbsvm"),
    "hashed_sgd": lambda: Candidate("hashed_sgd", HashedTextFeatures(), "sgd"),
    "hashed_lr": lambda: Candidate("hashed_lr", HashedTextFeatures(), "lr"),
    "hashed_nbsvm": lambda: Candidate("hashed_nbsvm", HashedTextFeatures(), "hashed_nbsvm"),
    "hashed_lr_char35": lambda: Candidate(
        "hashed_lr_char35", HashedTextFeatures(char_ngram_range=(3, 5)), "lr"
    ),
    "hashed_lr_chunks": lambda: Candidate(
        "hashed_lr_chunks", HashedTextFeatures(char_windows="chunks"), "lr"
    ),
    "hashed_lr_chunks_w13": lambda: Candidate(
        "hashed_lr_chunks_w13", HashedTextFeatures(char_windows="chunks", word_ngram_range=(1, 3)), "lr"
    ),
    "hashed_words": lambda: Candidate(
        "hashed_words", HashedTextFeatures(char_ngram_range=(1, 1), word_ngram_range=(1, 2)), "lr"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--folds", type=int, default=config.CV_FOLDS)
    args = parser.parse_args()
    pin_to_one_core()
    train = assemble_corpus(resolve_data_spec("default"))
    train = train[train["insult"].notna()].reset_index(drop=True)
    tests = assemble_corpus([n for n, c in CORPORA.items() if c.split == "test"])
    tests = tests[tests["insult"].notna()].reset_index(drop=True)
    train, _ = without_duplicates_of(train, tests["text"])
    texts, y, w = (
        train["text"].tolist(),
        train["insult"].to_numpy(dtype=int),
        train["insult_weight"].to_numpy(),
    )
    folds = list(
        StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=config.SEED).split(
            texts, y, train["group"]
        )
    )
    rows = []
    for name in args.candidates.split(","):
        started = time.perf_counter()
        oof = np.zeros(len(texts))
        for fit_idx, test_idx in folds:
            model = CANDIDATES[name]().fit([texts[i] for i in fit_idx], y[fit_idx], w[fit_idx])
            oof[test_idx] = model.decision([texts[i] for i in test_idx])
        row: dict[str, object] = {"candidate": name}
        for corpus in sorted(train["corpus"].unique()):
            mask = (train["corpus"] == corpus).to_numpy()
            row[f"cv_{corpus}"] = f"{roc_auc_score(y[mask], oof[mask]):.4f}"
        model = CANDIDATES[name]().fit(texts, y, w)
        scores = model.decision(tests["text"].tolist())
        for corpus in sorted(tests["corpus"].unique()):
            mask = (tests["corpus"] == corpus).to_numpy()
            row[f"test_{corpus}"] = f"{roc_auc_score(tests['insult'][mask].astype(int), scores[mask]):.4f}"
        sample = (tests["text"].tolist() * 5)[:20_000]
        timer = time.perf_counter()
        model.decision(sample)
        row["rows_per_s"] = int(len(sample) / (time.perf_counter() - timer))
        row["minutes"] = round((time.perf_counter() - started) / 60, 1)
        rows.append(row)
        print(markdown_table([row]), flush=True)
    print()
    print(markdown_table(rows))
    print(f"wrote {save_results('model_selection', rows, folds=args.folds)}")


if __name__ == "__main__":
    main()
