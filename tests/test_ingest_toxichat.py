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
    # Human turns have no name in the dump; the bots are named after their model.
    assert frame["author"].tolist() == ["", "", "dgpt", "gpt3"]
    assert frame["author_type"].tolist() == ["reddit", "reddit", "dgpt", "gpt3"]
    assert frame["comment_id"].tolist() == ["dev-0000:1", "dev-0000:2", "dev-0000:3-dgpt", "dev-0000:3-gpt3"]
    assert frame["parent_id"].tolist() == ["", "dev-0000:1", "dev-0000:2", "dev-0000:2"]
    assert frame["stance_towards_parent"].tolist() == ["", "Disagree", "", ""]
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
    assert (frame["author_type"] == "reddit").sum() == (derived["author_type"] == "reddit").sum() == 3919
    human = frame[frame["author_type"] == "reddit"]
    assert (human["offense_label"] == "Offensive").sum() == derived.query("author_type == 'reddit'")[
        "offensive"
    ].sum()


def _line(*texts: str, bots: bool = False) -> str:
    turns = [
        {"turn_id": i, "text": t, "offense_label": "Safe", "offense_targets": []}
        for i, t in enumerate(texts, start=1)
    ]
    record: dict = {"reddit_thread": turns}
    if bots:
        record["final_dgpt_response"] = {"turn_id": len(texts) + 1, "text": "bot", "coherence": "Plausible"}
    return json.dumps(record)


def test_every_line_is_a_thread_or_a_reject_and_chunks_never_split_a_thread(tmp_path: Path) -> None:
    from moderation.ingest import ReadReport, RejectsSink

    lines = [
        _line(" Title: one \n a", "b", "c"),
        "{broken",
        json.dumps({"reddit_thread": []}),
        json.dumps({"reddit_thread": [{"text": "ok"}, "not a turn"]}),
        _line(" Title: two \n x", "y", bots=True),
        _line("no title here"),
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rejects, report = RejectsSink(), ReadReport()
    frames = list(read_comments([path], rejects=rejects, report=report, chunk_rows=2))
    frame = pd.concat(frames, ignore_index=True)
    assert [r["record"] for r in rejects.kept] == [2, 3, 4]
    assert "not an object" in rejects.kept[2]["reason"]
    assert frame["record"].nunique() + rejects.count == len(lines)
    # chunk_rows=2 is smaller than a thread, but a frame still holds whole threads only
    assert [sorted(f["thread_id"].unique()) for f in frames] == [
        ["train-0000"],
        ["train-0004"],
        ["train-0005"],
    ]
    assert frame["thread_title"].tolist() == ["one"] * 3 + ["two"] * 3 + [""]
    assert frame["comment_id"].tolist()[3:6] == ["train-0004:1", "train-0004:2", "train-0004:3-dgpt"]
    assert frame["depth"].tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert report.orphans == 0


def test_generic_json_lines_are_not_taken_for_toxichat(tmp_path: Path) -> None:
    path = tmp_path / "comments.jsonl"
    path.write_text(json.dumps({"text": "mentions reddit_thread in the text"}) + "\n")
    assert detect_format(path) == "jsonl"


@pytest.mark.shared
def test_every_column_matches_the_derived_turns_file(shared_data: Path) -> None:
    paths = [shared_data / "toxichat/train.jsonl", shared_data / "toxichat/dev.jsonl"]
    assert [detect_format(p) for p in paths] == ["toxichat", "toxichat"]
    frame = pd.concat(list(read_comments(paths)), ignore_index=True)
    derived = pd.read_csv(
        shared_data / "toxichat/toxichat_turns_train_dev.csv", dtype=str, keep_default_na=False
    )
    columns = [
        "thread_id",
        "turn_id",
        "parent_turn_id",
        "author_type",
        "is_thread_root",
        "offense_label",
        "offensive",
        "offense_targets",
        "stance_towards_parent",
        "stance_labels_json",
        "coherence",
    ]
    assert frame[columns].astype(str).to_numpy().tolist() == derived[columns].to_numpy().tolist()
    assert frame["text_original"].tolist() == derived["text"].tolist()
    assert frame["comment_id"].is_unique
    assert (frame["parent_id"] == "").sum() == 1700  # one post per thread
    assert frame["thread_title"].ne("").all()
    assert not frame["text"].str.contains("&amp;", regex=False).any()
