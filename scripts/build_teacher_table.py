"""Build the teacher table that distillation reads (``moderation/teacher_v1.npz``).

The teacher is a better insult scorer than the shipped model, too slow to ship: the blend of
two logistic regressions on the default training corpora's insult-labelled rows (test splits
and their duplicates left out, as ``moderation train`` leaves them out):

1. the n-gram one: the default hashed word and character n-grams (``DEFAULT_PARAMS``), C=2;
2. the semantic one: over each comment's sentence embedding from sentence-transformers'
   all-MiniLM-L6-v2 (Apache-2.0; its first 128 word pieces, normalised), C=0.5;
3. each one's decision z-scored over its grouped 5-fold out-of-fold scores, averaged with
   weight ``BLEND`` on the semantic one, and Platt-scaled on those out-of-fold scores.

The table holds one probability per text group (``text_groups``): the out-of-fold one for an
insult-labelled training text (no text is scored by a teacher that saw it), the full
teacher's for a text that no corpus labels for insult (TRAC and cyber-trolls; the Davidson
tweets too, for a run that adds them). ``moderation.distill`` turns them into soft targets.

Needs the ``semantic-build`` extra, as ``build_semantic_table.py`` does::

    pip install -e '.[semantic-build]'
    python scripts/build_teacher_table.py --vectors /tmp/teacher_vectors.npz

Embedding the ~100,000 texts takes about 20 minutes on two cores; ``--vectors`` keeps them,
so a rebuild embeds only new texts. Then pin the printed sha256 in
``moderation.distill.TEACHER_TABLES`` and retrain (``moderation train``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from build_semantic_table import ENCODER_SHA256, load_encoder
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

#: Weight of the semantic model in the blend (0.5 scored best of 0.3-0.7 on the out-of-fold rows).
BLEND = 0.5
NGRAM_C = 2.0
SEMANTIC_C = 0.5
MAX_SEQ_LENGTH = 128
#: The texts the table covers: the default corpora, and the Davidson tweets for a training run
#: that adds them (``--data default,+davidson_texts``). They carry no insult label, so the
#: teacher learns from the default corpora's labelled rows alone.
TEACHER_DATA = "default,+davidson_texts"


def embeddings(texts: list[str], cache: Path | None) -> np.ndarray:
    """Each text's normalised sentence embedding; ``cache`` keeps them by text across runs."""
    known: dict[str, np.ndarray] = {}
    if cache and cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["encoder"]) == ENCODER_SHA256 and int(stored["max_seq_length"]) == MAX_SEQ_LENGTH:
                cached = stored["texts"].tobytes().decode("utf-8").split("\x00")
                known = dict(zip(cached, stored["vectors"], strict=True))
    missing = sorted({t for t in texts if t not in known}, key=len)
    print(f"{len(set(texts)):,} distinct texts, {len(missing):,} to embed")
    if missing:
        encoder = load_encoder()
        encoder.max_seq_length = MAX_SEQ_LENGTH
        vectors = encoder.encode(missing, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
        known.update(zip(missing, vectors.astype(np.float32), strict=True))
        if cache:
            np.savez(
                cache,
                texts=np.frombuffer("\x00".join(known).encode("utf-8"), dtype=np.uint8),
                vectors=np.stack(list(known.values())),
                encoder=ENCODER_SHA256,
                max_seq_length=MAX_SEQ_LENGTH,
            )
    return np.stack([known[t] for t in texts]).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(distill.__file__).with_name(distill.TEACHER_TABLES["teacher_v1"][0])
    parser.add_argument("--output", type=Path, default=default)
    parser.add_argument("--vectors", type=Path, help="keep the text embeddings in this .npz (reused by text)")
    args = parser.parse_args()
    started = time.perf_counter()
    root = config.SHARED_DATA_DIR
    train = assemble_corpus(resolve_data_spec(TEACHER_DATA), root=root)
    test_names = [n for n, c in CORPORA.items() if c.split == "test"]
    tests = assemble_corpus(test_names, root=root)
    train, groups_by_text = without_duplicates_of(train, tests["text"])
    vectors = embeddings(train["text"].tolist() + tests["text"].tolist(), args.vectors)
    E, E_tests = vectors[: len(train)], vectors[len(train) :]

    features = HashedTextFeatures(**DEFAULT_PARAMS["text_features"]).fit(train["text"].tolist())
    _, other = _semantic_columns(features, "insult")
    X = zero_columns(features.transform(train["text"].tolist()), other)
    X_tests = zero_columns(features.transform(tests["text"].tolist()), other)

    labelled = train["insult"].notna().to_numpy()
    y = train.loc[labelled, "insult"].to_numpy(dtype=int)
    w = train.loc[labelled, "insult_weight"].to_numpy()
    groups = train.loc[labelled, "group"].to_numpy()

    def ngram() -> LogisticRegression:
        return LogisticRegression(C=NGRAM_C, solver="liblinear", max_iter=2000, random_state=config.SEED)

    def semantic() -> LogisticRegression:
        return LogisticRegression(C=SEMANTIC_C, max_iter=3000, random_state=config.SEED)

    oof = np.zeros((len(y), 2))
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=config.SEED)
    for fit, held in folds.split(X[labelled], y, groups):
        for column, (make, M) in enumerate(((ngram, X[labelled]), (semantic, E[labelled]))):
            model = make().fit(M[fit], y[fit], sample_weight=w[fit])
            oof[held, column] = model.decision_function(M[held])
    scale = oof.std(axis=0)
    mix = np.asarray([1.0 - BLEND, BLEND]) / scale
    platt = LogisticRegression(C=1e6, max_iter=1000).fit((oof @ mix).reshape(-1, 1), y, sample_weight=w)
    full = (ngram().fit(X[labelled], y, sample_weight=w), semantic().fit(E[labelled], y, sample_weight=w))

    def teach(M: object, V: np.ndarray) -> np.ndarray:
        z = np.column_stack([full[0].decision_function(M), full[1].decision_function(V)]) @ mix
        return platt.predict_proba(z.reshape(-1, 1))[:, 1]

    keys = distill.group_keys(groups_by_text)
    out_of_fold = pd.Series(platt.predict_proba((oof @ mix).reshape(-1, 1))[:, 1], index=keys[labelled])
    unlabelled = ~labelled & (train["corpus"] != "identity_balance").to_numpy()
    taught = pd.Series(teach(X[unlabelled], E[unlabelled]), index=keys[unlabelled])
    # A labelled text's out-of-fold probability wins over the full teacher's for the same text.
    table = pd.concat([out_of_fold.groupby(level=0).mean(), taught.groupby(level=0).mean()])
    table = table[~table.index.duplicated(keep="first")].sort_index()

    oof_auc = {
        name: round(float(roc_auc_score(y, scores, sample_weight=w)), 4)
        for name, scores in (("ngram", oof[:, 0]), ("semantic", oof[:, 1]), ("teacher", oof @ mix))
    }
    test_scores = teach(X_tests, E_tests)
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
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), first 128 word pieces, normalised",
        "encoder_sha256": ENCODER_SHA256,
        "trained_on": "default corpora, insult-labelled rows, test splits and their duplicates left out",
        "models": {
            "ngram": f"LogisticRegression(C={NGRAM_C}, liblinear) on DEFAULT_PARAMS text_features",
            "semantic": f"LogisticRegression(C={SEMANTIC_C}) on the sentence embedding",
            "blend": f"z-scored decisions, {BLEND:g} semantic; "
            "Platt-scaled on grouped 5-fold out-of-fold scores",
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
