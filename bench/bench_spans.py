"""Span F1 of the highlighted words on SemEval-2021 toxic spans, for the rules that pick them.

Every text of the split is treated as offensive (the SemEval setting) and each rule picks the
words to highlight from the default model's per-word contributions to the insult head:
- ``floor``: a word whose contribution reaches ``floor`` (the rule until 2026.12);
- ``relative``: also at least ``fraction`` of the comment's largest contribution;
- ``content``: English function words ("you", "are", "the") never highlighted.
The grid is scored on the *train* split and the best rule there is shown with its test F1;
the rule shipped in ``moderation.config`` (SPAN_MIN_CONTRIBUTION, SPAN_RELATIVE) is checked
against ``explain_spans`` itself. F1 is SemEval's: over character offsets, per text, averaged,
1 for a text with no gold span and nothing highlighted.
Usage: python bench/bench_spans.py [--rows N] (N: rows of each split, default all)
"""

from __future__ import annotations

import argparse
import ast
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, save_results

from moderation import config
from moderation.explain import _letters, explain_spans, token_contributions
from moderation.registry import load_model

FLOORS = (0.0, 0.05, 0.1, 0.2, 0.4)
FRACTIONS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.9)


def span_f1(predicted: set[int], gold: set[int]) -> float:
    if not gold and not predicted:
        return 1.0
    overlap = len(predicted & gold)
    if not overlap:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def rule_f1(split: dict, floor: float, fraction: float, content: bool) -> float:
    scores = []
    for text, spans, gold in zip(split["texts"], split["spans"], split["gold"], strict=True):
        if content:
            spans = [s for s in spans if _letters(text[s[0] : s[1]]) not in ENGLISH_STOP_WORDS]
        cut = max(floor, fraction * max((value for _, _, value in spans), default=0.0))
        chars = {i for start, end, value in spans if value >= cut for i in range(start, end)}
        scores.append(span_f1(chars, gold))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    model = load_model(None)
    splits = {}
    for name in ("train", "test"):
        frame = pd.read_csv(config.SHARED_DATA_DIR / "toxic_spans" / f"tsd_{name}.csv")
        if args.rows:
            frame = frame.head(args.rows)
        texts = frame["text"].astype(str).tolist()
        splits[name] = {
            "texts": texts,
            "spans": token_contributions(model, texts),
            "gold": [set(ast.literal_eval(offsets)) for offsets in frame["spans"]],
        }
    grid = [
        (rule_f1(splits["train"], floor, fraction, content), floor, fraction, content)
        for floor, fraction, content in itertools.product(FLOORS, FRACTIONS, (False, True))
    ]
    best = max(grid)
    shipped = (config.SPAN_MIN_CONTRIBUTION, config.SPAN_RELATIVE, True)
    picked = explain_spans(model, splits["test"]["texts"], only_scored=False)
    shipped_test = float(
        np.mean(
            [
                span_f1({i for start, end, _ in spans for i in range(start, end)}, gold)
                for spans, gold in zip(picked, splits["test"]["gold"], strict=True)
            ]
        )
    )
    rules = [
        ("floor 0.2 (until 2026.12)", (0.2, 0.0, False)),
        ("best on train", best[1:]),
        ("shipped", shipped),
    ]
    rows = []
    for name, (floor, fraction, content) in rules:
        rows.append(
            {
                "rule": name,
                "floor": floor,
                "fraction of the largest": fraction,
                "function words out": "yes" if content else "no",
                "train F1": f"{rule_f1(splits['train'], floor, fraction, content):.4f}",
                "test F1": f"{rule_f1(splits['test'], floor, fraction, content):.4f}",
            }
        )
    rows.append(
        {
            **rows[-1],
            "rule": "shipped, through explain_spans",
            "train F1": "",
            "test F1": f"{shipped_test:.4f}",
        }
    )
    sizes = {name: f"{len(split['texts']):,}" for name, split in splits.items()}
    print(f"model {model.version}; train {sizes['train']} rows, test {sizes['test']}")
    print(markdown_table(rows))
    print(f"\nwrote {save_results('spans', rows, model=model.version)}")


if __name__ == "__main__":
    main()
