"""The dashboard through Streamlit's AppTest, on a seeded SQLite store: every page runs without an
exception and shows the moderator what the workflow API says (queue order, tree indentation,
author roll-up, uncertainty order), changes made through the widgets reach the comments table
and the audit log, a conflict is shown naming who changed the comment, and comment text is only
ever shown escaped. The browser half is in test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options
from test_jobs import WAITS_THEN_ADDS_A_VERSION, wait_for_job

from moderation import cards, config, gate, jobs, registry, review
from moderation.review import User
from moderation.rollups import author_risk
from moderation.store import audit_log, comments, ingest_files, open_store, users

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the dashboard is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from dashboard import render, session, widgets  # noqa: E402

APP = ROOT / "dashboard" / "app.py"
DEMO = ROOT / "data" / "demo_comments.jsonl"
ALICE, BOB, ROOT_USER = User("alice", "moderator"), User("bob", "moderator"), User("root", "admin")
PASSWORD = "correct horse battery"

# As a dump holds them: a reader unescapes the text's entities (so "&lt;script&gt;" is the
# comment text "<script>"); author names and titles are kept as they are, bidi controls included.
HOSTILE = [
    "&lt;script&gt;alert(1)&lt;/script&gt; you idiot",
    "Nice &lt;img src=x onerror=alert(1)&gt; picture, moron",
    '&lt;a href="javascript:alert(1)"&gt;free stadium tickets&lt;/a&gt;',
    "[click](javascript:alert(1)) for the real budget, stupid",
    "Invoice attached: \u202egnp.exe you fool",
]
HOSTILE_AUTHORS = [
    "mallory",
    "<img src=x onerror=alert(1)>",
    "[me](javascript:alert(1))",
    "<i>mallory</i>",
    "inv\u202egnp.exe",
]
HOSTILE_TITLE = "<b>Hostile</b> [title](javascript:alert(1)) \u202eevil"


def _hostile_rows() -> list[dict]:
    return [
        {
            "id": f"x{i}",
            "thread_id": "hostile-thread",
            "thread_title": HOSTILE_TITLE,
            "parent_id": "" if i == 0 else f"x{i - 1}",
            "author": author,
            "created_at": f"2026-03-10T10:0{i}:00Z",
            "text": text,
        }
        for i, (text, author) in enumerate(zip(HOSTILE, HOSTILE_AUTHORS, strict=True))
    ]


@pytest.fixture
def store(tmp_path: Path, model, monkeypatch: pytest.MonkeyPatch):
    """A SQLite store holding the demo threads, a hostile thread and three users."""
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("".join(json.dumps(row) + "\n" for row in _hostile_rows()), encoding="utf-8")
    store = open_store(url)
    ingest_files(store, [DEMO, hostile], model=model, rejects_path=tmp_path / "rejects.jsonl")
    for user in (ALICE, BOB, ROOT_USER):
        review.add_user(store, name=user.name, password=PASSWORD, role=user.role)
    monkeypatch.setenv(config.DB_ENV_VAR, url)
    monkeypatch.delenv(session.AUTH_ENV_VAR, raising=False)
    yield store
    store.close()


def _app(user: User | None = ALICE, **state) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.session_state["user"] = user
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _bodies(at: AppTest) -> list[str]:
    return [element.proto.body for element in at.html]


def _cards(at: AppTest, kind: str = "comment") -> list[tuple[str, int]]:
    """(id, depth) of each comment card (or thread id of each queue row) in page order."""
    if kind == "thread":
        pattern = re.compile(r'<div class="mod-thread" data-thread-id="([^"]*)"')
        return [(m.group(1), 0) for body in _bodies(at) for m in pattern.finditer(body)]
    pattern = re.compile(r'<div class="mod-comment[^"]*" data-comment-id="([^"]*)" data-depth="(\d+)"')
    return [(m.group(1), int(m.group(2))) for body in _bodies(at) for m in pattern.finditer(body)]


def _unescaped(markdown: str) -> str:
    """Markdown text as the moderator reads it (``render.markdown_text`` backslash-escapes)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _row(store, comment_id: str) -> dict:
    return store.read(sa.select(comments).where(comments.c.comment_id == comment_id)).iloc[0].to_dict()


def _audit(store, comment_id: str) -> list[tuple[str, str, str, str]]:
    log = store.read(
        sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.field, audit_log.c.after)
        .where(audit_log.c.comment_id == comment_id)
        .order_by(audit_log.c.event_id)
    )
    return [tuple(r) for r in log.itertuples(index=False, name=None)]


# --- sign-in ---------------------------------------------------------------------------------------


def test_sign_in_is_required_and_a_wrong_password_is_refused(store) -> None:
    at = _app(user=None).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Moderation: sign in"]
    assert [b.key for b in at.button] == ["FormSubmitter:login-sign in"]  # no page of the app is reachable
    at.text_input(key="login_name").input("alice")
    at.text_input(key="login_password").input("not the password")
    at.button(key="FormSubmitter:login-sign in").click().run()
    assert "wrong user name or password" in at.error[0].value
    at.text_input(key="login_password").input(PASSWORD)
    at.button(key="FormSubmitter:login-sign in").click().run()
    assert not at.exception
    assert at.session_state["user"] == ALICE
    assert [t.value for t in at.title] == ["Queue"]
    assert any("signed in as alice" in c.value for c in at.sidebar.caption)


def test_a_role_change_or_a_disabled_account_takes_effect_at_once(store, models_dir: Path) -> None:
    at = _open(_app(ROOT_USER), "models")
    assert at.button(key="models_rollback")
    review.add_user(store, name="root", password=PASSWORD, role="moderator")  # demoted by another admin
    at.run()
    assert at.session_state["user"] == User("root", "moderator")
    assert not [b for b in at.button if b.key == "models_rollback"]
    with store.transaction() as conn:
        conn.execute(sa.update(users).where(users.c.name == "root").values(disabled=True))
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Moderation: sign in"]


def test_sign_in_page_says_how_to_add_the_first_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(tmp_path / "empty.db"))
    monkeypatch.delenv(session.AUTH_ENV_VAR, raising=False)
    at = _app(user=None).run()
    assert not at.exception
    assert "no user in this store" in at.warning[0].value
    assert "moderation users add NAME --role admin" in at.code[0].value


def test_with_auth_off_it_acts_as_the_local_admin_on_loopback_only(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(session.AUTH_ENV_VAR, "off")
    with patch_config_options({"server.address": "127.0.0.1"}):
        at = _app(user=None).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Queue"]
    assert "Authentication is off" in at.sidebar.warning[0].value
    assert "127.0.0.1 only" in at.sidebar.warning[0].value
    with patch_config_options({"server.address": "0.0.0.0"}):
        at = _app(user=None).run()
    assert not at.exception
    assert "only runs when it listens on 127.0.0.1" in at.error[0].value
    assert not at.title


# --- Queue -------------------------------------------------------------------------------------------


def test_queue_shows_threads_in_the_order_of_flagged_threads(store) -> None:
    at = _app().run()
    assert not at.exception
    shown = [thread_id for thread_id, _ in _cards(at, "thread")]
    assert shown == review.flagged_threads(store, limit=25)["thread_id"].tolist()
    assert len(shown) >= 4
    top = review.flagged_threads(store, limit=1).iloc[0]
    first = _bodies(at)[0]
    assert render.escape_text(top["title"]) in first and f"{int(top['n_flagged'])} flagged" in first

    at.selectbox(key="queue_label").select("insult").run()
    shown = [thread_id for thread_id, _ in _cards(at, "thread")]
    assert shown == review.flagged_threads(store, label="insult", limit=25)["thread_id"].tolist()
    at.text_input(key="queue_search").input("moron").run()
    shown = [thread_id for thread_id, _ in _cards(at, "thread")]
    assert (
        shown == review.flagged_threads(store, label="insult", search="moron", limit=25)["thread_id"].tolist()
    )
    assert shown


def test_queue_pages_through_the_threads(store, model, tmp_path: Path) -> None:
    extra = tmp_path / "many.jsonl"
    extra.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"m{i}",
                    "thread_id": f"many-{i:02d}",
                    "text": f"Shut up, you pathetic idiot number {i}.",
                }
            )
            + "\n"
            for i in range(12)
        ),
        encoding="utf-8",
    )
    ingest_files(store, [extra], model=model, rejects_path=tmp_path / "r.jsonl")
    at = _app().run()
    at.selectbox(key="queue_page_size").select(10).run()
    first = [t for t, _ in _cards(at, "thread")]
    assert first == review.flagged_threads(store, limit=10)["thread_id"].tolist()
    at.button(key="queue_next").click().run()
    second = [t for t, _ in _cards(at, "thread")]
    assert second == review.flagged_threads(store, limit=10, offset=10)["thread_id"].tolist()
    assert second and not set(first) & set(second)
    assert at.button(key="queue_next").disabled == (len(second) < 10)


def test_opening_a_thread_from_the_queue_shows_it_indented_by_tree_depth(store) -> None:
    at = _app().run()
    top = review.flagged_threads(store, limit=1).iloc[0]
    at.button(key=render.widget_key("open", top["thread_id"])).click().run()
    assert not at.exception
    assert at.session_state["thread_id"] == top["thread_id"]
    assert render.title_html(top["title"]) in _bodies(at)[0]
    expected = review.thread_comments(store, top["thread_id"])
    cards = _cards(at)
    assert cards == list(zip(expected["comment_id"], expected["tree_depth"].astype(int), strict=True))
    assert max(depth for _, depth in cards) >= 3  # the demo thread nests deep
    for (comment_id, depth), body in zip(cards, _bodies(at)[1:], strict=False):
        key = render.widget_key("comment", comment_id)
        assert f".st-key-{key} {{ margin-left: {render.indent_rem(depth)}rem;" in body


def test_thread_page_without_a_thread_says_to_pick_one(store) -> None:
    at = _open(_app(), "thread")
    assert "Pick a thread in the Queue" in at.info[0].value


# --- Thread: changes through the widgets ---------------------------------------------------------------


def _thread(store, thread_id: str = "stadium-vote", user: User = ALICE) -> AppTest:
    return _open(_app(user, thread_id=thread_id), "thread")


def test_a_relabel_through_the_buttons_reaches_the_store_and_the_audit_log(store) -> None:
    at = _thread(store)
    before = _row(store, "s3")
    at.button(key=widgets.action_key("s3", "troll_no")).click().run()
    assert not at.exception
    after = _row(store, "s3")
    assert after["troll_label"] == "no" and after["version"] == before["version"] + 1
    assert after["updated_by"] == "alice"
    assert _audit(store, "s3")[-1] == ("alice", "relabel", "troll_label", "no")
    assert at.button(key=widgets.action_key("s3", "troll_no")).proto.type == "primary"
    assert at.session_state["cursor"] == "s3"
    assert "troll label set to no" in at.success[0].value


def test_decide_then_undo_and_add_a_note(store) -> None:
    at = _thread(store)
    at.button(key=widgets.action_key("s5", "reject")).click().run()
    assert _row(store, "s5")["decision"] == "rejected"
    assert not at.button(key=widgets.action_key("s5", "restore")).disabled
    at.button(key=widgets.action_key("s5", "undo")).click().run()
    assert _row(store, "s5")["decision"] == ""
    assert [a[1] for a in _audit(store, "s5")] == ["decide", "undo"]
    at.button(key=widgets.action_key("s5", "undo")).click().run()
    assert "nothing of yours to undo" in at.info[0].value
    at.text_area(key=widgets.action_key("s5", "note")).input("repeat offender, see s3").run()
    at.button(key=widgets.action_key("s5", "note_save")).click().run()
    assert _row(store, "s5")["note"] == "repeat offender, see s3"
    assert "note: repeat offender, see s3" in "".join(_bodies(at))


def test_a_stale_change_is_refused_and_names_who_changed_the_comment(store) -> None:
    at = _thread(store)  # alice loads the thread at version 1 of s1
    review.relabel(store, BOB, "s1", label="insult", value="no", expected_version=1)
    at.button(key=widgets.action_key("s1", "approve")).click().run()
    assert not at.exception
    message = at.error[0].value
    assert "Not saved" in message and "changed by bob" in message
    assert _row(store, "s1")["decision"] == ""  # alice's approval was not applied on top
    assert _audit(store, "s1")[-1][:2] == ("alice", "conflict")
    # The page reloaded the thread: the same click now works on the current version.
    at.button(key=widgets.action_key("s1", "approve")).click().run()
    assert _row(store, "s1")["decision"] == "approved"


def test_a_bulk_action_applies_to_every_selected_comment(store) -> None:
    at = _thread(store)
    chosen = ["s2", "s4", "s6"]
    for comment_id in chosen:
        at.checkbox(key=render.widget_key("select", comment_id)).check()
    at.run()
    assert at.button(key="bulk_apply").label == "apply to 3 selected"
    at.selectbox(key="bulk_action").select("troll yes")
    at.button(key="bulk_apply").click().run()
    assert not at.exception
    assert [_row(store, c)["troll_label"] for c in chosen] == ["yes", "yes", "yes"]
    assert _row(store, "s3")["troll_label"] == ""
    times = store.read(sa.select(audit_log.c.at).where(audit_log.c.comment_id.in_(chosen)))["at"]
    assert len(times) == 3 and times.nunique() == 1  # one transaction
    assert not any(at.checkbox(key=render.widget_key("select", c)).value for c in chosen)


def test_keyboard_moves_the_focus_and_targets_the_focused_comment(store) -> None:
    at = _thread(store)
    ids = review.thread_comments(store, "stadium-vote")["comment_id"].tolist()
    assert at.session_state["cursor"] == ids[0]
    at.button(key="thread_next").click().run()
    at.button(key="thread_next").click().run()
    assert at.session_state["cursor"] == ids[2]
    at.button(key="thread_prev").click().run()
    assert at.session_state["cursor"] == ids[1]
    focused = [body for body in _bodies(at) if 'class="mod-comment mod-focused"' in body]
    assert len(focused) == 1 and f'data-comment-id="{ids[1]}"' in focused[0]
    script = next(body for body in _bodies(at) if "__moderationKeys" in body)
    keys = json.loads(re.search(r"__moderationKeys = (\{.*?\});", script).group(1))
    assert keys == {
        "j": "thread_next",
        "k": "thread_prev",
        "a": widgets.action_key(ids[1], "approve"),
        "r": widgets.action_key(ids[1], "reject"),
        "i": widgets.action_key(ids[1], "insult_yes"),
        "t": widgets.action_key(ids[1], "troll_yes"),
        "u": widgets.action_key(ids[1], "undo"),
    }
    for key in keys.values():  # every target exists on the page
        assert at.button(key=key)


def test_a_long_thread_is_paged_and_the_keys_cross_pages(store, model, tmp_path: Path) -> None:
    long = tmp_path / "long.jsonl"
    long.write_text(
        "".join(
            json.dumps({"id": f"l{i:02d}", "thread_id": "long", "parent_id": f"l{i - 1:02d}" if i % 3 else "",
                        "text": f"Reply number {i}, you clown."}) + "\n"
            for i in range(30)
        ),
        encoding="utf-8",
    )  # fmt: skip
    ingest_files(store, [long], model=model, rejects_path=tmp_path / "r.jsonl")
    ids = review.thread_comments(store, "long")["comment_id"].tolist()
    at = _thread(store, "long")
    at.selectbox(key="thread_page_size").select(25).run()
    assert [c for c, _ in _cards(at)] == ids[:25]
    assert any(c.value == "comments 1-25 of 30" for c in at.caption)
    at.session_state["cursor"] = ids[24]
    at.button(key="thread_next").click().run()
    assert at.session_state["cursor"] == ids[25]
    assert [c for c, _ in _cards(at)] == ids[25:]
    at.button(key="thread_page_prev").click().run()
    assert at.session_state["cursor"] == ids[0] and [c for c, _ in _cards(at)] == ids[:25]


# --- hostile text --------------------------------------------------------------------------------------


def test_hostile_text_is_only_shown_escaped(store) -> None:
    stored = review.thread_comments(store, "hostile-thread")
    assert "<script>alert(1)</script> you idiot" in stored["text"].tolist()  # the raw text is in the store
    at = _thread(store, "hostile-thread")
    assert not at.exception
    page = re.sub(r'<mark class="[a-z ]+" title="[a-z ]+">|</mark>', "", "".join(_bodies(at)))
    for raw in ("<script>alert", "<img src=x", '<a href="javascript', "<b>Hostile", "<i>mallory", "\u202e"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;a href=&quot;javascript:alert(1)&quot;&gt;" in page
    assert "[click](javascript:alert(1))" in page  # st.html does not read Markdown: it stays text
    assert "[me](javascript:alert(1))" in page
    assert (
        'inv<span class="mod-bidi" title="bidirectional control U+202E (RLO)">[U+202E]</span>gnp.exe' in page
    )
    assert "&lt;b&gt;Hostile&lt;/b&gt;" in _bodies(at)[0] and "[U+202E]</span>evil" in _bodies(at)[0]
    # Text that Streamlit reads as Markdown never carries a comment's raw text.
    markdown = " ".join(m.value for m in [*at.markdown, *at.caption, *at.error, *at.success, *at.info])
    assert "javascript:alert" not in markdown and "<script>" not in markdown


# --- the other pages -------------------------------------------------------------------------------------


def test_author_page_shows_the_roll_up_and_the_comments(store) -> None:
    at = _thread(store)
    at.button(key=widgets.action_key("s3", "author")).click().run()
    assert not at.exception
    assert at.session_state["author"] == "grumpy_gus"
    expected = review.author_comments(store, "grumpy_gus")
    risk = author_risk(expected).iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["troll risk"] == f"{risk['troll_risk']:.2f}"
    assert metrics["comments"] == str(int(risk["n_comments"]))
    assert [c for c, _ in _cards(at)] == expected["comment_id"].tolist()
    at.button(key=widgets.action_key("s11", "thread")).click().run()
    assert at.session_state["thread_id"] == "stadium-vote"
    at.run()
    assert render.title_html("Residents split over stadium funding referendum") in _bodies(at)[0]


def test_author_page_for_a_hostile_name(store) -> None:
    at = _open(_app(author="<i>mallory</i>"), "author")
    assert "&lt;i&gt;mallory&lt;/i&gt;" in _bodies(at)[0]
    assert [c for c, _ in _cards(at)] == review.author_comments(store, "<i>mallory</i>")[
        "comment_id"
    ].tolist()


def test_needs_review_lists_comments_closest_to_the_threshold(store) -> None:
    at = _open(_app(), "needs_review")
    shown = [c for c, _ in _cards(at)]
    assert shown == review.near_threshold(store, limit=20)["comment_id"].tolist()
    assert shown
    at.button(key=widgets.action_key(shown[0], "insult_no")).click().run()
    assert _row(store, shown[0])["insult_label"] == "no"
    assert shown[0] not in [c for c, _ in _cards(at)]  # labelled: no longer uncertain
    at.selectbox(key="review_label").select("troll").run()
    assert [c for c, _ in _cards(at)] == review.near_threshold(store, label="troll", limit=20)[
        "comment_id"
    ].tolist()


def test_label_issues_page_without_a_run_says_how_to_find_them(store) -> None:
    at = _open(_app(), "label_issues")
    assert "moderation label-issues" in _unescaped(at.info[0].value)
    assert not [b for b in _bodies(at) if "mod-issue" in b]


@pytest.mark.shared
def test_label_issues_page_lists_suspects_escaped_and_opens_their_thread(store, shared_data: Path) -> None:
    from moderation.label_issues import store_label_issues

    wrong = {"s3": "no", "s5": "no", "x0": "no", "c6": "yes"}
    for comment_id, value in {**wrong, "c1": "no", "c2": "no", "t5": "yes"}.items():
        review.relabel(store, ALICE, comment_id, label="insult", value=value, expected_version=1)
    stored = store_label_issues(store, label="insult", data="kaggle_insults_train")
    ours = stored[stored["comment_id"] != ""]
    assert len(ours) >= 2

    at = _open(_app(), "label_issues")
    shown = re.findall(r'class="mod-comment mod-issue" data-comment-id="([^"]*)"', "".join(_bodies(at)))
    assert shown == ours["comment_id"].tolist()[:20]  # moderators' labels only, by rank
    assert set(shown) <= set(wrong)
    assert "<script>" not in "".join(_bodies(at))  # x0's text is hostile
    at.selectbox(key="issues_source").select("moderators' labels, then public corpora").run()
    shown = re.findall(r'class="mod-comment mod-issue" data-comment-id="([^"]*)"', "".join(_bodies(at)))
    assert shown[: len(ours)] == ours["comment_id"].tolist()[:20] and len(shown) == 20
    first = ours.iloc[0]
    at.button(key=render.widget_key("issue_thread", f"insult:{first['comment_id']}")).click().run()
    assert not at.exception
    assert at.session_state["thread_id"] == first["thread_id"]
    assert at.session_state["cursor"] == first["comment_id"]


def test_stats_page_draws_its_charts(store) -> None:
    at = _open(_app(), "stats")
    assert len(at.info) == 2  # no decision yet: both decision charts say so
    review.decide(store, ALICE, "s1", action="approve", expected_version=1)
    review.decide(store, BOB, "s3", action="reject", expected_version=1)
    st.cache_data.clear()  # a change made elsewhere shows after QUERY_TTL_SECONDS; skip the wait
    at.run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 5  # over time, per moderator, two histograms, by source
    assert not at.info


def test_stats_page_shows_agreement_and_opens_a_disputed_thread(store) -> None:
    at = _open(_app(), "stats")
    assert any("No moderator has labelled" in c.value for c in at.caption)
    assert not at.dataframe
    labels = {  # comment -> (alice, bob): they disagree on x1 (hostile text) and c2
        "c1": ("yes", "yes"), "c2": ("yes", "no"), "c3": ("no", "no"), "c4": ("no", "no"),
        "c5": ("yes", "yes"), "x1": ("no", "yes"),
    }  # fmt: skip
    for comment_id, said in labels.items():
        for user, value in zip((ALICE, BOB), said, strict=True):
            version = int(_row(store, comment_id)["version"])
            review.relabel(store, user, comment_id, label="insult", value=value, expected_version=version)
    st.cache_data.clear()
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 4  # two histograms, by source, overturn rates
    by_model, pairs = (frame.value for frame in at.dataframe)
    assert by_model[["moderator", "label"]].values.tolist() == [
        ["alice", "insult"], ["bob", "insult"], [review.ALL_MODERATORS, "insult"],
    ]  # fmt: skip
    assert pairs[["moderator_a", "moderator_b", "n"]].values.tolist() == [["alice", "bob", 6]]
    assert pairs.at[0, "kappa"] == pytest.approx(review.moderator_agreement(store).at[0, "kappa"])
    disputed = re.findall(r'<div class="mod-disagreement" data-comment-id="([^"]*)"', "".join(_bodies(at)))
    assert disputed == ["x1", "c2"]
    body = next(b for b in _bodies(at) if 'data-comment-id="x1"' in b)
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body

    at.button(
        key=render.widget_key("disagreement_open", render.widget_key("disagreement", "insult:x1"))
    ).click()
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["thread_id"] == "hostile-thread"
    assert at.session_state["cursor"] == "x1"
    assert 'class="mod-comment mod-focused" data-comment-id="x1"' in "".join(_bodies(at))


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped registry plus a second version, so promotion touches no checkout file."""
    folder = tmp_path / "models"
    active = (config.MODELS_DIR / config.ACTIVE_POINTER).read_text().strip()
    shutil.copytree(config.MODELS_DIR / active, folder / active)
    shutil.copytree(config.MODELS_DIR / active, folder / "candidate-copy")
    (folder / config.ACTIVE_POINTER).write_text(active + "\n")
    monkeypatch.setattr(config, "MODELS_DIR", folder)
    return folder


def test_models_page_lists_versions_and_only_admins_promote(
    store, models_dir: Path, shared_data: Path
) -> None:
    active = (models_dir / config.ACTIVE_POINTER).read_text().strip()
    at = _open(_app(ALICE), "models")
    versions = at.dataframe[0].value["version"].tolist()
    assert set(versions) == {active, "candidate-copy"}
    assert "Only admins" in at.caption[0].value
    assert not [b for b in at.button if b.key and b.key.startswith(("promote_", "models_rollback"))]
    assert len(at.dataframe) >= 2  # the active model's card metrics are open

    at = _open(_app(ROOT_USER), "models")
    at.button(key=render.widget_key("promote", "candidate-copy")).click().run()
    assert not at.exception
    assert (models_dir / config.ACTIVE_POINTER).read_text().strip() == "candidate-copy"
    assert "candidate-copy is now the active model" in _unescaped(at.success[0].value)
    at.button(key="models_rollback").click().run()
    assert (models_dir / config.ACTIVE_POINTER).read_text().strip() == active
    log = store.read(
        sa.select(audit_log.c.actor, audit_log.c.action).where(
            audit_log.c.action.in_(("promote", "rollback"))
        )
    )
    assert log.values.tolist() == [["root", "promote"], ["root", "rollback"]]
    at.button(key="models_rollback").click().run()  # no earlier model left: the hint is shown
    assert "no earlier active model" in at.error[0].value


def _admin_controls(at: AppTest) -> set[str]:
    keys = [b.key for b in at.button] + [c.key for c in at.checkbox]
    prefixes = ("models_retrain", "models_rollback", "compare_", "promote_", "force_")
    return {
        key.split("_")[0] if key.startswith(prefixes[2:]) else key
        for key in keys
        if key and key.startswith(prefixes)
    }


def test_only_admins_see_retrain_compare_promote_and_force(store, models_dir: Path) -> None:
    at = _open(_app(ALICE), "models")
    assert _admin_controls(at) == set()
    assert "Only admins can retrain" in at.caption[0].value
    at = _open(_app(ROOT_USER), "models")
    assert _admin_controls(at) == {"models_retrain", "models_rollback", "compare", "promote", "force"}
    assert at.button(key=render.widget_key("compare", "candidate-copy"))
    assert at.checkbox(key=render.widget_key("force", "candidate-copy")).value is False
    assert any(c.value == "No training job has run yet." for c in at.caption)


def _comparison_table(at: AppTest):
    found = [d.value for d in at.dataframe if list(d.value.columns) == list(gate.TABLE_COLUMNS)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_comparing_a_candidate_shows_the_gate_table(store, models_dir: Path, shared_data: Path) -> None:
    at = _open(_app(ROOT_USER), "models")
    at.button(key=render.widget_key("compare", "candidate-copy")).click().run(timeout=120)
    assert not at.exception
    table = _comparison_table(at)
    card = registry.read_card("candidate-copy", models_dir=models_dir)
    assert table["split"].tolist() == list(card["metrics"])  # every public test split of its card
    assert table["auc_change"].tolist() == [0.0] * len(table)  # a copy scores exactly as the original
    assert table["gated"].any()
    assert "The gate passes: candidate-copy against the active" in _unescaped(at.success[0].value)
    assert any("mean ROC AUC change" in _unescaped(c.value) for c in at.caption)


def test_a_candidate_the_gate_refuses_is_promoted_only_when_forced(
    store, models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "SHARED_DATA_DIR", tmp_path / "no-public-data")  # nothing to compare on
    active = (models_dir / config.ACTIVE_POINTER).read_text().strip()
    at = _open(_app(ROOT_USER), "models")
    at.button(key=render.widget_key("compare", "candidate-copy")).click().run(timeout=60)
    assert "The gate fails" in _unescaped(at.error[0].value)
    captions = " ".join(_unescaped(c.value) for c in at.caption)
    assert "no evaluation split holds enough labelled rows" in captions
    assert "public test corpora not found" in captions

    at.button(key=render.widget_key("promote", "candidate-copy")).click().run(timeout=60)
    assert not at.exception
    refused = _unescaped(at.error[0].value)
    assert "gate fails: candidate candidate-copy" in refused and "--force" in refused
    assert (models_dir / config.ACTIVE_POINTER).read_text().strip() == active

    at.checkbox(key=render.widget_key("force", "candidate-copy")).check()
    at.button(key=render.widget_key("promote", "candidate-copy")).click().run(timeout=60)
    assert "candidate-copy is now the active model" in _unescaped(at.success[0].value)
    assert (models_dir / config.ACTIVE_POINTER).read_text().strip() == "candidate-copy"
    log = store.read(sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.after))
    assert log[log["action"].str.startswith("promote")].values.tolist() == [
        ["root", "promote-forced", "candidate-copy"]
    ]


def test_models_page_draws_calibration_and_scores_the_threshold_on_labels(store, models_dir: Path) -> None:
    for comment_id, value in (("s1", "yes"), ("s2", "no"), ("s3", "yes"), ("s4", "yes"), ("s5", "no")):
        review.relabel(
            store,
            ALICE,
            comment_id,
            label="insult",
            value=value,
            expected_version=_row(store, comment_id)["version"],
        )
    card = registry.read_card(models_dir=models_dir)
    at = _open(_app(ALICE), "models")

    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # one reliability plot per label
    for chart, label in zip(charts, config.LABELS, strict=True):
        diagonal, bins = (convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets)
        bins = bins.reset_index(drop=True)
        assert diagonal.values.tolist() == [[0.0, 0.0], [1.0, 1.0]]
        expected = cards.reliability_table(card)
        expected = expected[expected["label"] == label].reset_index(drop=True)
        assert set(expected["split"]) == {
            split for split, figures in card["metrics"].items() if figures["label"] == label
        } | {cards.OUT_OF_FOLD}
        pd.testing.assert_frame_equal(bins, expected, check_dtype=False)

    slider = at.slider(key="models_threshold_insult")
    assert slider.value == round(card["thresholds"]["insult"], 2)
    shown = {m.label: m.value for m in at.metric}
    preview = review.threshold_preview(store, label="insult", threshold=slider.value)
    assert preview["n_labelled"] == 5
    assert shown["precision"] == ("-" if preview["precision"] is None else f"{preview['precision']:.2f}")
    assert shown["recall"] == f"{preview['recall']:.2f}"
    assert shown["comments flagged for insult"] == f"{preview['would_flag']:,}"
    assert any("No comment is labelled yes or no for troll" in i.value for i in at.info)

    slider.set_value(0.0).run()
    shown = {m.label: m.value for m in at.metric}
    assert (shown["precision"], shown["recall"]) == ("0.60", "1.00")  # 3 yes of 5 labels, all flagged
    assert shown["comments flagged for insult"] == str(len(store.read(sa.select(comments.c.comment_id))))
    # The shipped card carries the audit training wrote (BiasAudit.to_card): its overall rate shows.
    insult_audit = card["bias_audit"]["insult"]
    summary = next(
        _unescaped(m.value) for m in at.markdown if "insult score at threshold" in _unescaped(m.value)
    )
    assert f"overall false-positive rate {insult_audit['overall_fpr']:.3f}" in summary
    del card["bias_audit"]
    (registry.model_dir(models_dir=models_dir) / config.MODEL_CARD).write_text(json.dumps(card))
    session.models.clear()
    at = _open(_app(ALICE), "models")
    assert any(c.value.startswith("Bias audit: not in this card") for c in at.caption)


def test_models_page_shows_the_card_s_bias_audit(store, models_dir: Path, model) -> None:
    from moderation.audit import audit_bias

    active = (models_dir / config.ACTIVE_POINTER).read_text().strip()
    card_path = models_dir / active / config.MODEL_CARD
    card = json.loads(card_path.read_text())
    audit = audit_bias(model=model, label="insult")
    card["bias_audit"] = {"insult": audit.to_dict()}
    card_path.write_text(json.dumps(card))
    at = _open(_app(ALICE), "models")
    terms = next(d.value for d in at.dataframe if "BPSN AUC" in d.value.columns)
    assert list(terms.columns) == [
        "term", "category", "FPR", "ratio to overall", "subgroup AUC", "BPSN AUC", "BNSP AUC", "flagged"
    ]  # fmt: skip
    assert terms["term"].tolist() == audit.terms["term"].tolist()
    assert terms["FPR"].tolist() == pytest.approx(audit.terms["fpr"].tolist(), nan_ok=True)
    summary = next(_unescaped(m.value) for m in at.markdown if "overall false" in _unescaped(m.value))
    assert f"overall false-positive rate {audit.overall_fpr:.3f}" in summary


def test_retraining_runs_in_the_background_and_the_page_follows_it(
    store, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_training(db_url: str, *, models_dir=None):
        return [sys.executable, "-c", WAITS_THEN_ADDS_A_VERSION, str(models_dir or config.MODELS_DIR)], {}

    monkeypatch.setattr(jobs, "training_command", fake_training)
    at = _open(_app(ROOT_USER), "models")
    at.button(key="models_retrain").click().run()
    assert not at.exception
    assert "training started in the background" in at.success[0].value
    wait_for_job(models_dir, lambda job: jobs.stage(job) == "fitting the insult head")
    at.run()
    running = _unescaped(at.info[0].value)
    assert running.startswith("Training by root: running for") and "stage: fitting the insult head" in running
    assert at.button(key="models_retrain").disabled
    assert at.code[0].value == "stage: reading the corpora\nstage: fitting the insult head"  # the log

    (models_dir / "go").touch()
    wait_for_job(models_dir, lambda job: not job.running)
    at.run()
    assert not at.exception
    assert "finished in" in at.success[0].value and "new version v-new" in _unescaped(at.success[0].value)
    assert "v-new" in at.dataframe[0].value["version"].tolist()
    assert at.button(key="models_job_compare") and not at.button(key="models_retrain").disabled

    jobs.start([sys.executable, "-c", "import sys; print('stage: reading the corpora'); sys.exit(2)"])
    wait_for_job(models_dir, lambda job: not job.running)
    at.run()
    failed = _unescaped(at.error[0].value)
    assert "failed after" in failed and "exited with code 2" in failed and "No version was added" in failed


# --- rendering and the command line --------------------------------------------------------------------


def test_highlight_escapes_each_fragment_and_marks_spans() -> None:
    text = "a <b>idiot</b> & you\u202e"
    html = render.highlight(text, [(3, 4, "insult"), (3, 14, "troll"), (99, 120, "insult"), (5, 2, "insult")])
    assert html == (
        'a &lt;<mark class="insult troll" title="insult troll">b</mark>'
        '<mark class="troll" title="troll">&gt;idiot&lt;/b&gt;</mark> &amp; you'
        '<span class="mod-bidi" title="bidirectional control U+202E (RLO)">[U+202E]</span>'
    )
    assert render.highlight("", [(0, 3, "insult")]) == ""


def test_markdown_text_neutralises_links_html_and_bidi() -> None:
    escaped = render.markdown_text("[click](javascript:alert(1)) <b>x</b> *y* \u2066z")
    assert "](" not in escaped and "<b>" not in escaped
    assert escaped.startswith(r"\[click\]\(javascript\:alert\(1\)\)")
    assert "[U+2066]".replace("[", r"\[").replace("]", r"\]").replace("+", r"\+") in escaped
    assert "\u2066" not in escaped


def test_the_cli_and_the_app_agree_on_the_auth_variable() -> None:
    from moderation import cli

    assert cli.DASHBOARD_AUTH_ENV_VAR == session.AUTH_ENV_VAR
    assert cli.LOOPBACK_HOSTS == session.LOOPBACK_HOSTS


def test_no_auth_refuses_any_host_but_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moderation.cli", "dashboard", "--no-auth", "--host", "0.0.0.0",
         "--db", str(tmp_path / "m.db")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--no-auth listens on 127.0.0.1 only" in result.stderr


def test_demo_loads_the_demo_threads_and_serves_the_dashboard(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp_path / "demo.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "moderation.cli", "demo", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, healthy = time.monotonic() + 90, False
        while not healthy and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    healthy = response.status == 200
            except OSError:
                time.sleep(0.3)
        assert healthy, process.stdout.read().decode() if process.poll() is not None else "no answer"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert "read 30 rows: added 30" in output and "no sign-in: you act as the local admin" in output
    # The queue holds the threads in which the shipped model flags a comment: the shouting match
    # over the stadium, not the sourdough recipe's thanks and questions.
    from moderation.ingest import read_comments

    model = registry.load_model()
    frames = read_comments([config.DEMO_DATA_DIR / "demo_comments.jsonl"])
    demo = pd.concat(model.score_frame(frame) for frame in frames)
    expected = set(demo.loc[demo["flag"] != "", "thread_id"])
    assert "stadium-vote" in expected and "recipe-sourdough" not in expected
    with open_store(str(db)) as store:
        assert set(review.flagged_threads(store)["thread_id"]) == expected


def test_demo_refuses_an_existing_store(tmp_path: Path) -> None:
    existing = tmp_path / "mine.db"
    existing.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "moderation.cli", "demo", "--db", str(existing)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "already exists" in result.stderr


def test_models_page_shows_the_recalibration_to_the_moderators_labels(store, models_dir: Path) -> None:
    card_path = registry.model_dir(models_dir=models_dir) / config.MODEL_CARD
    card = json.loads(card_path.read_text())
    card.pop("site_calibration", None)
    card_path.write_text(json.dumps(card))
    at = _open(_app(ALICE), "models")
    missing = "Recalibration to the moderators' labels: not in this card"
    assert any(c.value.startswith(missing) for c in at.caption)

    card["site_calibration"] = {
        "insult": {"rows": 412, "positives": 96, "applied": True, "a": 0.8, "b": 1.3, "c": -0.4,
                   "heldout_rows": 101, "heldout_ece_before": 0.112, "heldout_ece_after": 0.031,
                   "why": "fitted"},
        "troll": {"rows": 12, "positives": 2, "applied": False, "why": "kept the corpus calibration"},
    }  # fmt: skip
    card_path.write_text(json.dumps(card))
    session.models.clear()
    at = _open(_app(ALICE), "models")
    shown = next(d.value for d in at.dataframe if "ECE after" in d.value.columns)
    assert shown["label"].tolist() == ["insult", "troll"]
    assert shown["ECE before"].tolist()[0] == 0.112 and shown["ECE after"].tolist()[0] == 0.031
    assert shown["applied"].tolist() == [True, False]


def test_a_store_naming_a_model_folder_gets_no_highlights_and_loads_nothing(
    store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from test_registry import hostile_copy

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    marker = elsewhere / "ran"
    active = (config.MODELS_DIR / config.ACTIVE_POINTER).read_text().strip()
    folder = hostile_copy(config.MODELS_DIR / active, elsewhere / "evil", marker)
    for version in (str(folder), "../" + folder.name, "no-such-version"):
        with store.engine.begin() as conn:
            hostile_thread = comments.c.thread_id == "hostile-thread"
            conn.execute(sa.update(comments).where(hostile_thread).values(model_version=version))
        at = _open(_app(thread_id="hostile-thread"), "thread")
        captions = [c.value for c in at.caption]
        assert any("no highlights for model" in c for c in captions), captions
        assert _cards(at)  # the comments are still shown
    assert not marker.exists()


def test_models_page_marks_an_unreadable_card(store, models_dir: Path) -> None:
    (models_dir / "candidate-copy" / config.MODEL_CARD).write_bytes(b"[1]")
    at = _open(_app(ROOT_USER), "models")
    errors = [e.value for e in at.error]
    assert any("Unreadable card" in e and "train it again" in e for e in errors), errors
