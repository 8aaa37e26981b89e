"""ToxiChat-style thread JSONL: each line is one Reddit thread whose turns reply in order.

Turn 1 is the post (its text starts with " Title: …", which becomes the thread title); each
later turn replies to the one before it. The two bot replies a ToxiChat line carries
(``final_dgpt_response``, ``final_gpt3_response``) are kept as rows by authors ``dgpt`` and
``gpt3`` replying to the last human turn, as in the derived toxichat_turns_train_dev.csv.
Labels (``offense_label``, targets, stance) are kept as columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from moderation.ingest.base import ReadOptions, ReadReport, register
from moderation.ingest.rejects import RejectsSink
from moderation.ingest.tabular import iter_json_lines
from moderation.normalize import normalize_text

__all__: list[str] = []

_TITLE = re.compile(r"^\s*Title:\s*(.*?)\s*(?:\n|$)")


def _sniff_toxichat(head: bytes, path: Path) -> int:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:2000]
    return 95 if first.startswith(b"{") and b'"reddit_thread"' in first else 0


def _labels(turn: dict) -> dict:
    labels = {k: v for k, v in turn.items() if k not in ("text", "turn_id")}
    stance = {k: v for k, v in labels.items() if k.startswith("stance_label")}
    out = {k: v for k, v in labels.items() if not k.startswith("stance_label")}
    out["offense_targets"] = "|".join(out.get("offense_targets") or [])
    out["stance_labels_json"] = json.dumps(stance) if stance else ""
    return out


@register("toxichat", kind="document", sniff=_sniff_toxichat, description="ToxiChat-style thread JSONL")
def read_toxichat(path: Path, options: ReadOptions, rejects: RejectsSink, report: ReadReport) -> pd.DataFrame:
    rows = []
    for line_number, record in iter_json_lines(path, options, rejects):
        turns = record.get("reddit_thread")
        if not isinstance(turns, list) or not turns:
            rejects.add(source=path, record=line_number, reason="no reddit_thread list", raw=record)
            continue
        thread_id = f"{path.name.split('.')[0]}-{line_number - 1:04d}"
        first_text = str(turns[0].get("text") or "")
        title_match = _TITLE.match(first_text)
        title = title_match.group(1) if title_match else ""
        previous = ""
        for turn in turns:
            turn_id = f"{thread_id}-{turn.get('turn_id')}"
            text = str(turn.get("text") or "")
            rows.append(
                {
                    "comment_id": turn_id,
                    "thread_id": thread_id,
                    "parent_id": previous,
                    "author": "reddit",
                    "text": normalize_text(text),
                    "thread_title": title,
                    "source": str(path),
                    "record": line_number,
                    "text_original": text,
                    **_labels(turn),
                }
            )
            previous = turn_id
        for bot in ("dgpt", "gpt3"):
            reply = record.get(f"final_{bot}_response")
            if isinstance(reply, dict):
                rows.append(
                    {
                        "comment_id": f"{previous}-{bot}",
                        "thread_id": thread_id,
                        "parent_id": previous,
                        "author": bot,
                        "text": normalize_text(str(reply.get("text") or "")),
                        "thread_title": title,
                        "source": str(path),
                        "record": line_number,
                        "text_original": str(reply.get("text") or ""),
                        **_labels(reply),
                    }
                )
    return pd.DataFrame(rows)
