"""The dashboard in a real browser: ``moderation dashboard`` runs as a subprocess on a seeded store
with the sign-in on, and Debian's chromium (through playwright, never ``playwright install``)
signs in, opens the top flagged thread, relabels one comment with the keyboard and one with a
click, and checks both reached the store and the audit log; then hostile comments (script, img
onerror, javascript: links, a Markdown link, a right-to-left override) must show as text with no
dialog and no element injected. A screenshot of every page goes to tests/screenshots/ (ignored
by git). Set MODERATION_SKIP_BROWSER=1 to skip these on purpose.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dashboard_server import running_dashboard

from moderation import review
from moderation.store import audit_log, comments, ingest_files, open_store

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the dashboard is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from dashboard import render, widgets  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
DEMO = ROOT / "data" / "demo_comments.jsonl"
SCREENSHOTS = ROOT / "tests" / "screenshots"
PASSWORD = "correct horse battery"
TIMEOUT_MS = 30_000

# As a dump holds them: the reader unescapes entities in the text; names and titles stay as given.
HOSTILE = [
    ("&lt;script&gt;alert(1)&lt;/script&gt; you idiot", "mallory"),
    ("Nice &lt;img src=x onerror=alert(1)&gt; picture, moron", "<img src=x onerror=alert(1)>"),
    ('&lt;a href="javascript:alert(1)"&gt;free stadium tickets&lt;/a&gt;', "[me](javascript:alert(1))"),
    ("[click](javascript:alert(1)) for the real budget, stupid", "mallory"),
    ("Invoice attached: \u202egnp.exe you fool", "inv\u202egnp.exe"),
]


def _wait_until(check: Callable[[], bool], *, seconds: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("browser")
    hostile = folder / "hostile.jsonl"
    hostile.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"x{i}",
                    "thread_id": "hostile-thread",
                    "thread_title": "<b>Hostile</b> [title](javascript:alert(1))",
                    "parent_id": "" if i == 0 else f"x{i - 1}",
                    "author": author,
                    "created_at": f"2026-03-10T10:0{i}:00Z",
                    "text": text,
                }
            )
            + "\n"
            for i, (text, author) in enumerate(HOSTILE)
        ),
        encoding="utf-8",
    )
    url = f"sqlite:///{folder / 'browser.db'}"
    with open_store(url) as store:
        ingest_files(store, [DEMO, hostile], rejects_path=folder / "rejects.jsonl")
        review.add_user(store, name="alice", password=PASSWORD, role="moderator")
    return url


@pytest.fixture(scope="module")
def dashboard_url(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moderation dashboard`` on a free port, sign-in on; stopped (process group) afterwards."""
    log = tmp_path_factory.mktemp("server") / "dashboard.log"
    with running_dashboard(store_url, log, timeout=90) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("MODERATION_SKIP_BROWSER") == "1":
        pytest.skip("MODERATION_SKIP_BROWSER=1: the browser tests are skipped on purpose")
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/test.sh, which installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, dashboard_url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.dialogs = []  # every alert/confirm/prompt the page tries to open
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)


def _sign_in(page, base: str) -> None:
    page.goto(base)
    page.locator(".st-key-login_name input").fill("alice")
    page.locator(".st-key-login_password input").fill(PASSWORD)
    _screenshot(page, "sign-in")
    page.get_by_role("button", name="sign in").click()
    page.locator(".mod-thread").first.wait_for()


def _open_thread(page, thread_id: str, title: str) -> None:
    page.locator(f".st-key-{render.widget_key('open', thread_id)} button").click()
    page.locator(".mod-title", has_text=title).wait_for()
    page.wait_for_function(
        "() => window.__moderationKeys && Object.keys(window.__moderationKeys).length === 7"
    )


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    page.get_by_role("heading", name=title).first.wait_for()


def _row(store_url: str, comment_id: str) -> dict:
    with open_store(store_url) as store:
        return store.read(sa.select(comments).where(comments.c.comment_id == comment_id)).iloc[0].to_dict()


def _relabels(store_url: str) -> list[tuple]:
    with open_store(store_url) as store:
        log = store.read(
            sa.select(audit_log.c.actor, audit_log.c.comment_id, audit_log.c.field, audit_log.c.after)
            .where(audit_log.c.action == "relabel")
            .order_by(audit_log.c.event_id)
        )
    return [tuple(r) for r in log.itertuples(index=False, name=None)]


def test_sign_in_open_the_top_thread_and_relabel_by_keyboard_and_by_click(
    page, dashboard_url: str, store_url: str
) -> None:
    _sign_in(page, dashboard_url)
    with open_store(store_url) as store:
        queue = review.flagged_threads(store, limit=25)
        top = queue.iloc[0]
        thread = review.thread_comments(store, top["thread_id"])
    # Streamlit draws a page element by element: wait for the pager, drawn after every row.
    page.locator(".st-key-queue_pager").wait_for()
    shown = page.locator(".mod-thread").evaluate_all("nodes => nodes.map(n => n.dataset.threadId)")
    assert shown == queue["thread_id"].tolist()
    _screenshot(page, "queue")

    _open_thread(page, top["thread_id"], top["title"])
    ids = thread["comment_id"].tolist()
    assert page.locator(".mod-comment").evaluate_all("ns => ns.map(n => n.dataset.commentId)") == ids
    assert page.locator(".mod-focused").get_attribute("data-comment-id") == ids[0]

    # Keyboard: j moves to the second comment, i labels it an insult.
    page.keyboard.press("j")
    page.wait_for_function(
        "([id, key]) => document.querySelector('.mod-focused')?.dataset.commentId === id"
        " && window.__moderationKeys.i === key",
        arg=[ids[1], widgets.action_key(ids[1], "insult_yes")],
    )
    page.keyboard.press("i")
    _wait_until(lambda: _row(store_url, ids[1])["insult_label"] == "yes", what="the keyboard relabel")
    page.get_by_text("insult label set to yes").wait_for()

    # Click: troll "no" on the fourth comment. While Streamlit redraws after the keyboard
    # relabel, the old and the new copy of a button can both be on the page: wait for one.
    troll_no = f".st-key-{widgets.action_key(ids[3], 'troll_no')} button"
    page.wait_for_function("sel => document.querySelectorAll(sel).length === 1", arg=troll_no)
    page.locator(troll_no).click()
    _wait_until(lambda: _row(store_url, ids[3])["troll_label"] == "no", what="the clicked relabel")
    page.get_by_text("troll label set to no").wait_for()
    assert _relabels(store_url) == [
        ("alice", ids[1], "insult_label", "yes"),
        ("alice", ids[3], "troll_label", "no"),
    ]
    assert _row(store_url, ids[1])["updated_by"] == _row(store_url, ids[3])["updated_by"] == "alice"
    _screenshot(page, "thread")

    for title in ("Author", "Needs review", "Label issues", "Stats", "Models"):
        _go(page, title)
        if title == "Stats":
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
        _screenshot(page, title.lower().replace(" ", "-"))
    assert not page.dialogs


def test_hostile_comments_render_as_text_and_inject_nothing(page, dashboard_url: str) -> None:
    _sign_in(page, dashboard_url)
    page.locator(".st-key-queue_search input").fill("onerror")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.mod-thread').length === 1")
    page.locator(f".st-key-{render.widget_key('open', 'hostile-thread')}").wait_for()
    _open_thread(page, "hostile-thread", "<b>Hostile</b> [title](javascript:alert(1))")

    texts = page.locator(".mod-text")
    for visible in (
        "<script>alert(1)</script> you idiot",
        "Nice <img src=x onerror=alert(1)> picture, moron",
        '<a href="javascript:alert(1)">free stadium tickets</a>',
        "[click](javascript:alert(1)) for the real budget, stupid",
    ):
        assert texts.filter(has_text=visible).count() == 1, visible
    authors = page.locator(".mod-author").all_inner_texts()
    assert "<img src=x onerror=alert(1)>" in authors and "[me](javascript:alert(1))" in authors
    assert "inv[U+202E]gnp.exe" in authors  # the override is shown, not obeyed
    _screenshot(page, "hostile-thread")

    _assert_nothing_injected(page)

    # The hostile author's page too.
    page.locator(f".st-key-{widgets.action_key('x1', 'author')} button").click()
    page.locator(".mod-title", has_text="<img src=x onerror=alert(1)>").wait_for()
    _screenshot(page, "hostile-author")
    _assert_nothing_injected(page)


def _assert_nothing_injected(page) -> None:
    page.wait_for_timeout(1000)  # give any injected handler time to fire
    assert page.dialogs == []
    injected = page.evaluate(
        """() => ({
            img: document.querySelectorAll('img[src="x"], img[src$="/x"]').length,
            onerror: document.querySelectorAll('[onerror]').length,
            js_links: document.querySelectorAll('a[href^="javascript"]').length,
            scripts: Array.from(document.scripts).filter(s => s.textContent.includes('alert(1)')).length,
            bold: Array.from(document.querySelectorAll('b')).filter(b => b.textContent === 'Hostile').length,
        })"""
    )
    assert injected == {"img": 0, "onerror": 0, "js_links": 0, "scripts": 0, "bold": 0}
