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


# --- statuses, dates, namespaces ----------------------------------------------------------------


def test_disqus_spam_is_marked_and_the_author_falls_back_to_the_username(tmp_path: Path) -> None:
    path = tmp_path / "spam.xml"
    path.write_text(
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        '<post dsq:id="9"><message><![CDATA[buy now]]></message><isDeleted>true</isDeleted>'
        "<isSpam>true</isSpam><author><username>seller</username></author>"
        '<thread dsq:id="t"/></post></disqus>'
    )
    frame, _ = _read(path)
    assert frame["status"].tolist() == ["spam"]
    assert frame["author"].tolist() == ["seller"]
    assert frame["thread_id"].tolist() == ["t"] and frame["thread_title"].tolist() == [""]


WXR_STATUSES = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:wp="https://wordpress.org/export/1.1/">
<channel><item><title>T</title><link>https://blog.invalid/t</link><wp:post_id>4</wp:post_id>
{comments}
</item></channel></rss>
"""


def _wp_comment(cid: str, approved: str, *, gmt: str = "", local: str = "") -> str:
    return (
        f"<wp:comment><wp:comment_id>{cid}</wp:comment_id><wp:comment_author>a</wp:comment_author>"
        f"<wp:comment_date>{local}</wp:comment_date><wp:comment_date_gmt>{gmt}</wp:comment_date_gmt>"
        f"<wp:comment_content>c{cid}</wp:comment_content><wp:comment_approved>{approved}"
        "</wp:comment_approved><wp:comment_parent>0</wp:comment_parent></wp:comment>"
    )


def test_wxr_statuses_dates_and_the_thread_is_the_post_link(tmp_path: Path) -> None:
    comments = "".join(
        [
            _wp_comment("1", "spam", gmt="2012-01-01 10:00:00"),
            _wp_comment("2", "trash", gmt="0000-00-00 00:00:00", local="2012-01-02 11:00:00"),
            _wp_comment("3", "1"),
        ]
    )
    path = tmp_path / "statuses.xml"
    path.write_text(WXR_STATUSES.format(comments=comments))
    frame, _ = _read(path)
    assert frame["status"].tolist() == ["spam", "deleted", "approved"]
    # A zero GMT date falls back to the local one; no date at all stays empty.
    assert frame["created_at"].tolist() == ["2012-01-01T10:00:00Z", "2012-01-02T11:00:00Z", ""]
    assert set(frame["thread_id"]) == {"https://blog.invalid/t"}
    assert set(frame["post_id"]) == {"4"}
    assert frame["record"].tolist() == [1, 2, 3]


def test_an_undeclared_prefix_in_an_attribute_is_declared_too(tmp_path: Path) -> None:
    path = tmp_path / "attr.xml"
    path.write_text(
        WXR_STATUSES.format(comments=_wp_comment("1", "1")).replace(
            "<channel>", '<channel><link geo:lat="1" />'
        )
    )
    report = ReadReport()
    frame = pd.concat(list(read_comments([path], report=report)))
    assert frame["comment_id"].tolist() == ["1"]
    assert any("geo" in w and "declared" in w for w in report.warnings)


def test_a_gzipped_export_is_read(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "export.xml.gz"
    path.write_bytes(gzip.compress(DISQUS.encode()))
    assert detect_format(path) == "disqus"
    frame, _ = _read(path)
    assert sorted(frame["comment_id"]) == ["p1", "p2"]


# --- bad input -----------------------------------------------------------------------------------


def _cli(*args: str) -> int:
    from moderation.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code


def test_broken_xml_in_the_middle_names_the_line_and_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(DISQUS.replace("</post>\n<post", "</pots>\n<post", 1))
    code = _cli("read", str(path), "-o", str(tmp_path / "out.csv"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "broken.xml" in err and "line 6" in err and "mismatched tag" in err
    assert not (tmp_path / "out.csv").exists()


def test_an_empty_xml_file_is_reported_as_empty_even_with_the_format_forced(tmp_path: Path) -> None:
    from moderation.errors import EmptyInputError

    path = tmp_path / "empty.xml"
    path.write_text("  \n")
    for fmt in ("auto", "disqus", "wxr"):
        with pytest.raises(EmptyInputError, match="empty"):
            _read(path, format=fmt)


def test_a_disqus_file_read_as_wxr_says_so(tmp_path: Path) -> None:
    path = tmp_path / "d.xml"
    path.write_text(DISQUS)
    with pytest.raises(InputError, match=r"not a WordPress WXR export \(its root element is <disqus>\)"):
        _read(path, format="wxr")


def test_xml_larger_than_the_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    from moderation import config
    from moderation.errors import InputTooLargeError

    monkeypatch.setattr(config, "MAX_XML_BYTES", 200)
    path = tmp_path / "big.xml"
    path.write_text(DISQUS)
    with pytest.raises(InputTooLargeError, match="MAX_XML_BYTES"):
        _read(path)


def test_external_entities_fetch_nothing_through_the_cli(tmp_path: Path, capsys) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE disqus [<!ENTITY s SYSTEM "file://{secret}">]>\n'
        + DISQUS.split("\n", 1)[1].replace("reply <b>here</b>", "]]>&s;<![CDATA[")
    )
    code = _cli("read", str(path), "-o", str(tmp_path / "out.jsonl"))
    captured = capsys.readouterr()
    assert code == 1
    assert "xxe.xml" in captured.err and "refused" in captured.err and "Traceback" not in captured.err
    assert "TOP-SECRET-VALUE" not in captured.out + captured.err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_external_dtd_is_not_fetched(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY title "INJECTED">')
    path = tmp_path / "dtd.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE disqus SYSTEM "file://{dtd}">\n' + DISQUS.split("\n", 1)[1]
    )
    frame, _ = _read(path)  # the DTD is neither loaded nor needed
    assert "INJECTED" not in frame.to_csv()
    assert len(frame) == 2


# --- the real dumps ------------------------------------------------------------------------------


@pytest.mark.shared
def test_every_real_xml_dump_is_sniffed_by_content(shared_data: Path, tmp_path: Path) -> None:
    dumps = shared_data / "raw_dumps"
    for name in ("disqus_export_tanglei_blog.xml", "disqus_export_yesilmavihayat.xml"):
        assert detect_format(dumps / "disqus" / name) == "disqus"
    for name in ("wxr_timothyfitz_blog.xml", "themeunittestdata.wordpress.xml"):
        assert detect_format(dumps / "wordpress_wxr" / name) == "wxr"
    renamed = tmp_path / "comments.txt"
    renamed.write_bytes((dumps / "disqus/disqus_export_yesilmavihayat.xml").read_bytes())
    assert detect_format(renamed) == "disqus"
    frame, _ = _read(renamed)
    assert len(frame) == 51


@pytest.mark.shared
def test_every_disqus_post_is_read_or_rejected(shared_data: Path) -> None:
    from moderation.ingest import RejectsSink

    path = shared_data / "raw_dumps/disqus/disqus_export_tanglei_blog.xml"
    posts_in = path.read_bytes().count(b"<post ")
    rejects, report = RejectsSink(), ReadReport()
    frame = pd.concat(list(read_comments([path], rejects=rejects, report=report)))
    assert posts_in == 2693
    assert len(frame) + rejects.count == posts_in and rejects.count == 0
    assert frame["comment_id"].is_unique
    assert report.orphans == 0 and (frame["depth"] > 0).sum() == 439
    assert not frame["text"].str.contains("<p>", regex=False).any()  # HTML reduced to text
    assert frame["created_at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()


@pytest.mark.shared
def test_the_theme_unit_test_comments_without_pingbacks(shared_data: Path) -> None:
    path = shared_data / "raw_dumps/wordpress_wxr/themeunittestdata.wordpress.xml"
    frame, report = _read(path)
    # 33 comments in the file: 2 pingbacks and 2 trackbacks left out by default.
    assert len(frame) == 29
    assert frame["status"].value_counts().to_dict() == {"approved": 26, "unapproved": 3}
    assert (frame["depth"] > 0).sum() == 10
    assert any("left out 4 pingbacks" in w for w in report.warnings)


@pytest.mark.shared
def test_the_real_wxr_keeps_the_approval_of_pingbacks(shared_data: Path) -> None:
    path = shared_data / "raw_dumps/wordpress_wxr/wxr_timothyfitz_blog.xml"
    everything, report = _read(path, include_pingbacks=True)
    # All 24 unapproved entries of this export are pingbacks: their status says pingback and
    # comment_approved keeps the 0.
    assert (everything["comment_approved"] == "0").sum() == 24
    assert set(everything.loc[everything["comment_approved"] == "0", "status"]) == {"pingback"}
    assert any("atom" in w for w in report.warnings)
