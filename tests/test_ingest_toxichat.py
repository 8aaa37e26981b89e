"""ToxiChat thread JSONL: one row per turn, each replying to the one before."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from moderation.ingest import detect_format, read_comments


def test_turns_chain_and_bot_replies(tmp_path: Path) -> None:
    thread = {
        "reddit_thread": [
            {
                "turn_id": 1,
                "text": " Title: A question \n body ",
                "offense_label": "Safe",
                "offense_targets": [],
            },
            {
                "turn_id": 2,
                "text": "you idiot",
                "offense_label": "Offensive",
                "offense_targets": ["user"],
                "stance_label_towards_turn_1": "Disagree",
            },
        ],
        "final_dgpt_response": {"text": "calm down", "offense_label": "Safe", "offense_targets": []},
        "final_gpt3_response": {"text": "", "offense_label": "Safe", "offense_targets": []},
    }
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(thread) + "\n")
    assert detect_format(path) == "toxichat"
    frame = pd.concat(list(read_comments([path])), ignore_index=True)
    assert frame["author"].tolist() == ["reddit", "reddit", "dgpt", "gpt3"]
    assert frame["depth"].tolist() == [0, 1, 2, 2]
    assert frame["thread_title"].iloc[0] == "A question"
    assert frame["offense_label"].tolist() == ["Safe", "Offensive", "Safe", "Safe"]
    assert frame["offense_targets"].iloc[1] == "user"


@pytest.mark.shared
def test_train_and_dev_match_the_derived_turns_file(shared_data: Path) -> None:
    frames = list(read_comments([shared_data / "toxichat/train.jsonl", shared_data / "toxichat/dev.jsonl"]))
    frame = pd.concat(frames, ignore_index=True)
    derived = pd.read_csv(shared_data / "toxichat/toxichat_turns_train_dev.csv")
    assert len(frame) == len(derived) == 7319
    assert (frame["author"] == "reddit").sum() == (derived["author_type"] == "reddit").sum() == 3919
    human = frame[frame["author"] == "reddit"]
    assert (human["offense_label"] == "Offensive").sum() == derived.query("author_type == 'reddit'")[
        "offensive"
    ].sum()
