"""Troll head: what thread context adds, on ELF24 and TRAC (an ablation, one table).

Rows of the table:
- the default model on ELF24 (troll against non-troll), each comment scored in its thread
  (the post it answers: title and body) and scored alone;
- grouped 5-fold CV on ELF24 itself (groups: the post), so the context weights can be
  learned: a text-only troll head, the text head plus context signals, and the context
  signals plus the default model's text scores (a small stacked model);
- TRAC-1 covert aggression against none: grouped 5-fold CV of the text head on the TRAC
  training set, and the default model on the TRAC dev set.
ELF24 is CC BY-NC-SA: here it only measures; nothing trained here is saved or shipped.
Usage: python bench/bench_troll_context.py [--model VERSION]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, save_results

from moderation import config
from moderation.evaluate import expected_calibration_error
from moderation.features import CONTEXT_FEATURES, HashedTextFeatures, context_matrix
from moderation.registry import load_model
from moderation.training import assemble_corpus


def _grouped_cv(X: sparse.csr_matrix, y: np.ndarray, groups: np.ndarray, *, C: float = 1.0) -> float:
    folds = StratifiedGroupKFold(n_splits=config.CV_FOLDS, shuffle=True, random_state=config.SEED)
    out = np.zeros(len(y))
    for fit_idx, test_idx in folds.split(X, y, groups):
        model = LogisticRegression(C=C, solver="liblinear", class_weight="balanced", max_iter=3000)
        out[test_idx] = model.fit(X[fit_idx], y[fit_idx]).decision_function(X[test_idx])
    return float(roc_auc_score(y, out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    rows = []

    elf = assemble_corpus(["elf24"])
    in_thread = model.score_frame(elf, explain=False)
    labelled = elf["troll"].notna().to_numpy()
    y = elf.loc[labelled, "troll"].to_numpy(dtype=int)
    with_context = in_thread.loc[labelled, "troll_score"].to_numpy()
    alone = model.score_frame(elf.loc[labelled, ["text"]].reset_index(drop=True), explain=False)
    without_context = alone["troll_score"].to_numpy()
    for name, scores in (("in its thread", with_context), ("alone", without_context)):
        rows.append(
            {
                "set": "ELF24 troll vs non-troll",
                "model": f"default {model.version}, scored {name}",
                "auc": f"{roc_auc_score(y, scores):.4f}",
                "ece": f"{expected_calibration_error(y, scores):.4f}",
            }
        )

    comments = elf[labelled].reset_index(drop=True)
    groups = comments["group"].to_numpy()
    texts = comments["text"].tolist()
    X_text = HashedTextFeatures(bits=18).fit(texts).transform(texts)
    context = context_matrix(elf, in_thread["insult_score"].to_numpy())[labelled]
    text_logit = np.log(np.clip(with_context, 1e-6, 1 - 1e-6) / np.clip(1 - with_context, 1e-6, 1))
    stacked = np.column_stack([text_logit, in_thread.loc[labelled, "insult_score"].to_numpy(), context])
    for name, X in (
        ("text only (hashed n-grams)", X_text),
        ("text + context signals", sparse.hstack([X_text, sparse.csr_matrix(context * 3.0)], format="csr")),
        ("context signals + default model's scores", sparse.csr_matrix(stacked)),
        ("context signals only", sparse.csr_matrix(context)),
    ):
        rows.append(
            {
                "set": "ELF24 troll vs non-troll",
                "model": f"grouped 5-fold CV on ELF24: {name}",
                "auc": f"{_grouped_cv(X, y, groups):.4f}",
                "ece": "",
            }
        )

    trac = assemble_corpus(["trac1_train"])
    trac = trac[trac["subset"] != "OAG"].reset_index(drop=True)
    trac_texts = trac["text"].tolist()
    X = HashedTextFeatures(bits=20).fit(trac_texts).transform(trac_texts)
    covert = trac["troll"].to_numpy(dtype=int)
    rows.append(
        {
            "set": "TRAC-1 covert vs none (train)",
            "model": "grouped 5-fold CV: text head (hashed n-grams, LR)",
            "auc": f"{_grouped_cv(X, covert, trac['group'].to_numpy(), C=2.0):.4f}",
            "ece": "",
        }
    )
    dev = assemble_corpus(["trac1_dev"])
    scored = model.score_frame(dev, explain=False)["troll_score"].to_numpy()
    y_dev = dev["troll"].to_numpy(dtype=int)
    rows.append(
        {
            "set": "TRAC-1 covert vs none (dev)",
            "model": f"default {model.version}",
            "auc": f"{roc_auc_score(y_dev, scored):.4f}",
            "ece": f"{expected_calibration_error(y_dev, scored):.4f}",
        }
    )
    print(markdown_table(rows))
    weights = dict(zip(CONTEXT_FEATURES, model.context_coef().round(3).tolist(), strict=True))
    print(f"\ncontext weights of {model.version}: {weights}")
    print(f"wrote {save_results('troll_context', rows, model=model.version, context_weights=weights)}")


if __name__ == "__main__":
    main()
