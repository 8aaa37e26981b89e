"""Disqus and WordPress WXR exports: counts from the real dumps, statuses, safety."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from moderation.errors import InputError
from moderation.ingest import ReadReport, detect_format, read_comments

HOSTILE = Path(__file__).resolve().parent / "hostile"


def _read(path: Path, **options) -> tuple[pd.DataFrame, ReadReport]:
    report = ReadReport()
    frame = pd.concat(list(read_comments([path], report=report, **options)), ignore_index=True)
    return frame, report


DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
<thread dsq:id="t1"><id>a</id><link>http://example.invalid/a</link><title>A &amp; B</title></thread>
<post dsq:id="p2"><message><![CDATA[<p>reply <b>here</b></p>]]></message>
<createdAt>2020-01-02T03:04:05Z</createdAt><isDeleted>false</isDeleted><isSpam>false</isSpam>
<author><name>bob</name></author><thread dsq:id="t1"/><parent dsq:id="p1"/></post>
<post dsq:id="p1"><message><![CDATA[<p>first<br>line two</p>]]></message>
<createdAt>2020-01-01T00:00:00Z</createdAt><isDeleted>true</isDeleted><isSpam>false</isSpam>
<author><name>ann</name></author><thread dsq:id="t1"/></post>
</disqus>
"""


def test_disqus_threads_parents_html_and_deleted(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"  # the content, not the extension, decides
    path.write_text(DISQUS)
    assert detect_format(path) == "disqus"
    frame, _ = _read(path)
    by_id = frame.set_index("comment_id")
    assert by_id.loc["p1", "text"] == "first\nline two"
    assert by_id.loc["p2", "text"] == "reply here"
    assert by_id.loc["p2", "parent_id"] == "p1" and by_id.loc["p2", "depth"] == 1
    assert by_id.loc["p1", "status"] == "deleted"
    assert by_id.loc["p2", "thread_title"] == "A & B"
    assert by_id.loc["p2", "created_at"] == "2020-01-02T03:04:05Z"


WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><atom:link rel="hub" href="http://example.invalid/hub"/>
<item><title>Post one</title><link>http://example.invalid/1</link><wp:post_id>1</wp:post_id>
<wp:comment><wp:comment_id>5</wp:comment_id><wp:comment_author>ann</wp:comment_author>
<wp:comment_date_gmt>2011-02-03 04:05:06</wp:comment_date_gmt>
<wp:comment_content><![CDATA[Nice post]]></wp:comment_content><wp:comment_approved>1</wp:comment_approved>
<wp:comment_type></wp:comment_type><wp:comment_parent>0</wp:comment_parent></wp:comment>
<wp:comment><wp:comment_id>6</wp:comment_id><wp:comment_author>bob</wp:comment_author>
<wp:comment_content><![CDATA[held for review]]></wp:comment_content>
<wp:comment_approved>0</wp:comment_approved>
<wp:comment_type>comment</wp:comment_type><wp:comment_parent>5</wp:comment_parent></wp:comment>
<wp:comment><wp:comment_id>7</wp:comment_id><wp:comment_author>blog</wp:comment_author>
<wp:comment_content><![CDATA[linked you]]></wp:comment_content><wp:comment_approved>1</wp:comment_approved>
<wp:comment_type>pingback</wp:comment_type><wp:comment_parent>0</wp:comment_parent></wp:comment>
</item></channel></rss>
"""


def test_wxr_with_an_undeclared_prefix_pingbacks_and_unapproved(tmp_path: Path) -> None:
    path = tmp_path / "site.xml"
    path.write_text(WXR)
    assert detect_format(path) == "wxr"
    frame, report = _read(path)
    assert frame["comment_id"].tolist() == ["5", "6"]
    assert frame["status"].tolist() == ["approved", "unapproved"]
    assert frame["parent_id"].tolist() == ["", "5"] and frame["depth"].tolist() == [0, 1]
    assert frame["thread_title"].tolist() == ["Post one", "Post one"]
    assert frame["created_at"].iloc[0] == "2011-02-03T04:05:06Z"
    assert any("pingbacks" in w for w in report.warnings)
    with_pingbacks, _ = _read(path, include_pingbacks=True)
    assert with_pingbacks["status"].tolist() == ["approved", "unapproved", "pingback"]


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml"])
def test_entity_expansion_and_external_entities_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="refused") as error:
        _read(HOSTILE / name)
    assert name in str(error.value)


def test_broken_xml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text(DISQUS[: len(DISQUS) // 2])
    with pytest.raises(InputError, match=r"not well-formed XML at line \d+") as error:
        _read(path, format="disqus")
    assert "cut.xml" in str(error.value) and "export it again" in str(error.value)


@pytest.mark.shared
def test_real_disqus_exports_match_their_readme_counts(shared_data: Path) -> None:
    frame, _ = _read(shared_data / "raw_dumps/disqus/disqus_export_tanglei_blog.xml")
    assert len(frame) == 2693
    assert (frame["parent_id"] != "").sum() == 439
    assert (frame["status"] == "deleted").sum() == 6
    assert frame["thread_title"].ne("").mean() > 0.95
    small, _ = _read(shared_data / "raw_dumps/disqus/disqus_export_yesilmavihayat.xml")
    assert len(small) == 51 and (small["status"] == "deleted").sum() == 2


@pytest.mark.shared
def test_real_wordpress_exports_match_their_readme_counts(shared_data: Path) -> None:
    real = shared_data / "raw_dumps/wordpress_wxr/wxr_timothyfitz_blog.xml"
    frame, _ = _read(real)
    assert len(frame) == 206  # comments only: pingbacks and trackbacks are left out
    assert (frame["parent_id"] != "").sum() == 4
    everything, _ = _read(real, include_pingbacks=True)
    assert len(everything) == 381
    assert (everything["status"] == "pingback").sum() == 174
    assert (everything["status"] == "trackback").sum() == 1
    theme, _ = _read(
        shared_data / "raw_dumps/wordpress_wxr/themeunittestdata.wordpress.xml", include_pingbacks=True
    )
    assert len(theme) == 33
    assert (theme["depth"] > 0).sum() == 10
    assert (theme["status"] == "unapproved").sum() == 3
