"""How often each model flags ordinary comments: the share of real site dumps it sends to the queue.

The raw dumps in ../shared/data/raw_dumps (a 2005 Reddit month, two Disqus blogs, a WordPress
blog) and the example article page carry no labels; most of their comments are ordinary, so
the share flagged is what a moderator would wade through. Beside it, per model: the share of
the bias audit's neutral identity sentences flagged (troll and insult), and precision and
recall at the model's threshold on the labelled test splits (TRAC-1 dev covert vs none for
troll, Kaggle insults test for insult). Every file is read and scored as ``moderation score``
does (each reader's frames, threads kept together).
Usage: python bench/bench_flag_rates.py [--models 2026.12-v4,2026.12-v5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, save_results

from moderation import config
from moderation.audit import build_audit_set
from moderation.ingest import read_comments
from moderation.model import not_read
from moderation.registry import load_model
from moderation.training import assemble_corpus

DUMPS = {
    "Reddit 2005-12 (Pushshift)": "raw_dumps/reddit_pushshift/RC_2005-12.ndjson",
    "WordPress blog (WXR)": "raw_dumps/wordpress_wxr/wxr_timothyfitz_blog.xml",
    "Disqus blog, Chinese": "raw_dumps/disqus/disqus_export_tanglei_blog.xml",
    "Disqus blog, Turkish": "raw_dumps/disqus/disqus_export_yesilmavihayat.xml",
    "example article page": "../examples/000_e8111e19a90c6981.txt",
}


def _scored(model, path: Path) -> pd.DataFrame:
    return pd.concat([model.score_frame(frame, explain=False) for frame in read_comments([path])])


def _flagged(scored: pd.DataFrame, label: str) -> np.ndarray:
    return scored["flag"].fillna("").str.contains(label).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="2026.12-v4,2026.12-v5")
    args = parser.parse_args()
    models = [load_model(ref) for ref in args.models.split(",")]
    audit = build_audit_set()
    neutral = audit.loc[audit["label"] == 0, "text"].tolist()
    tests = assemble_corpus(["trac1_dev", "kaggle_insults_test"])
    rows: list[dict] = []

    def add(what: str, n: int, label: str, values: dict[str, str]) -> None:
        rows.append({"set": what, "rows": n, "label": label, **values})

    for name, relative in DUMPS.items():
        scored = {m.version: _scored(m, config.SHARED_DATA_DIR / relative) for m in models}
        for label in config.LABELS:
            values = {f"{v} flagged": f"{_flagged(s, label).mean():.3f}" for v, s in scored.items()}
            add(name, len(next(iter(scored.values()))), label, values)
        values = {f"{v} flagged": f"{not_read(s).mean():.3f}" for v, s in scored.items()}
        add(name, len(next(iter(scored.values()))), "not read (no flag)", values)
    for label in config.LABELS:
        values = {}
        for m in models:
            scores = m.score_texts(neutral)[f"{label}_score"].to_numpy()
            values[f"{m.version} flagged"] = f"{(scores >= m.thresholds[label]).mean():.3f}"
        add("bias audit, neutral sentences", len(neutral), label, values)
    for corpus, label in (("trac1_dev", "troll"), ("kaggle_insults_test", "insult")):
        rows_of = tests[(tests["corpus"] == corpus) & tests[label].notna()]
        y = rows_of[label].to_numpy(dtype=int)
        values = {}
        for m in models:
            flagged = _flagged(m.score_frame(rows_of.drop(columns=["insult", "troll"]), explain=False), label)
            precision = y[flagged].mean() if flagged.any() else float("nan")
            values[f"{m.version} flagged"] = (
                f"{flagged.mean():.3f} (P {precision:.3f}, R {flagged[y == 1].mean():.3f})"
            )
        add(f"{corpus} (labelled, {y.mean():.0%} positive)", len(y), label, values)
    print(markdown_table(rows))
    print(f"\nwrote {save_results('flag_rates', rows, models=[m.version for m in models])}")


if __name__ == "__main__":
    main()
