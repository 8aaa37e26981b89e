"""Article pages saved as plain text: title, authors in page order, no furniture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from moderation.errors import EmptyInputError
from moderation.ingest import detect_format, read_comments
from moderation.ingest.page import FURNITURE, parse_page


def _read(path: Path) -> pd.DataFrame:
    return pd.concat(list(read_comments([path], format="auto")), ignore_index=True)


def _by_text(frame: pd.DataFrame, start: str) -> pd.Series:
    hits = frame[frame["text"].str.startswith(start)]
    assert len(hits) == 1, f"expected one comment starting {start!r}, found {len(hits)}"
    return hits.iloc[0]


@pytest.mark.shared
def test_example_page_title_authors_and_order(example_page: Path) -> None:
    assert detect_format(example_page) == "page"
    frame = _read(example_page)
    title = "Russia, Turkey Reach Agreement To Reopen Three Crossings In Greater Idlib"
    assert (frame["thread_title"] == title).all()
    assert frame["thread_id"].nunique() == 1
    assert frame["record"].is_monotonic_increasing  # page order
    authors = [a for a in frame["author"] if a]
    assert authors[:8] == [
        "He who laughs last laughs best",
        "Diana Cornwell",
        "viktor ziv",
        "Diana Cornwell",
        "Just Me",
        "rightiswrong rightiswrong",
        "Diana Cornwell",
        "rightiswrong rightiswrong",
    ]
    assert authors[-4:] == ["Just Me", "Al Balog", "The Objective", "Willing Conscience (The Truths"]
    expected = {
        "Miss Cornhole, you are a MI6 troll": "Just Me",
        "I say you’re more than vacant": "rightiswrong rightiswrong",
        "That brings back memories Di, lol.": "rightiswrong rightiswrong",
        "Don’t forget sociopaths like yourself": "Just Me",
        "Hell yeah, classic Russian-Turkish": "Al Balog",
        "Turkey is a major pillar": "The Objective",
        "By millions???": "viktor ziv",
        "What nonsense.": "Diana Cornwell",
    }
    for start, author in expected.items():
        assert _by_text(frame, start)["author"] == author, start


@pytest.mark.shared
def test_example_page_multi_paragraph_empty_and_anonymous_comments(example_page: Path) -> None:
    frame = _read(example_page)
    rant = _by_text(frame, "That’s my point.")
    assert "This was a public service announcement." in rant["text"]  # several paragraphs
    assert "Russia = NATO = Israel" in _by_text(frame, "What nonsense.")["text"]  # not an author
    assert "Erdogan starts a political earthquake" in _by_text(frame, "Russia needs to up")["text"]
    empty = frame[frame["text"] == ""]
    assert sorted(empty["author"]) == ["Diana Cornwell", "Just Me"]
    anonymous = frame[frame["author"] == ""]
    assert anonymous["text"].str.startswith("Come on doc").tolist() == [True]


@pytest.mark.shared
def test_example_page_has_no_furniture_or_article_text_in_comments(example_page: Path) -> None:
    frame = _read(example_page)
    lines = [line.strip() for line in example_page.read_text().splitlines() if line.strip()]
    furniture = [line for line in lines if any(p.match(line) for p in FURNITURE)]
    assert {"Notify of", "View all comments", "Newest Most Voted", "Support SouthFront"} <= set(furniture)
    assert "Would love your thoughts, please comment.x" in furniture
    everything = "\n".join(frame["text"]) + "\n" + "\n".join(frame["author"])
    for line in furniture:
        assert f"\n{line}\n" not in f"\n{everything}\n", line
    assert "2,500 $" not in everything
    assert "Deputy Chief of the Russian Center for Reconciliation" not in everything  # article body


DISQUS_LIKE = """\
Gardening in small spaces: ten tips
By the editors
Most balconies can hold far more plants than people think.

12 Comments
Sort by Best

Alice Walker
• 3 years ago
I loved this post.
Reply • Share ›

Bob
• 2 years ago
You are an idiot, Alice.
Nobody needs ten tips.
Reply • Share ›
2
Alice Walker
• 2 years ago
Thanks
Reply • Share ›

Load more comments
Powered by Disqus
"""


def test_a_disqus_like_layout_without_blank_lines_is_read(tmp_path: Path) -> None:
    path = tmp_path / "garden.txt"
    path.write_text(DISQUS_LIKE)
    frame = _read(path)
    assert frame["thread_title"].iloc[0] == "Gardening in small spaces: ten tips"
    assert frame["author"].tolist() == ["Alice Walker", "Bob", "Alice Walker"]
    assert frame["text"].tolist() == [
        "I loved this post.",
        "You are an idiot, Alice.\nNobody needs ten tips.",
        "Thanks",
    ]
    assert frame["posted"].tolist() == ["• 3 years ago", "• 2 years ago", "• 2 years ago"]


def test_a_short_last_line_is_not_mistaken_for_the_next_author() -> None:
    page = "A title with words\n\n3 Comments\n\nAnn Lee\n\nGreat read\n\nMark my words\n\nBo\n\nagreed.\n"
    _, comments = parse_page(page)
    assert [(c.author, c.paragraphs) for c in comments] == [
        ("Ann Lee", ["Great read", "Mark my words"]),
        ("Bo", ["agreed."]),
    ]


def test_a_page_without_a_comment_section_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text("A headline of an article\n\nJust the article body, no comments at all.\n")
    with pytest.raises(EmptyInputError, match="no comments"):
        _read(path)


def test_the_page_sniffer_never_steals_csv_or_json(tmp_path: Path) -> None:
    csv_path = tmp_path / "comments.txt"
    csv_path.write_text("id,text\n1,hello\n")
    json_path = tmp_path / "comments2.txt"
    json_path.write_text('{"text": "hello"}\n')
    assert detect_format(csv_path) == "csv"
    assert detect_format(json_path) == "jsonl"
