"""Queue first-paint benchmark: from a store of a million comments to the queue's first row in
a browser.

    .venv/bin/python bench/bench_dashboard_paint.py [--rows 1000000] [--db PATH] [--repeats 5]

Builds a SQLite store of ROWS comments sampled from ../shared/data in 20,000 threads (the store
benchmark's builder, ``common.build_store``), or reuses the one at PATH when it exists and holds
ROWS comments (default PATH: bench/results/paint_ROWS.db, so a second run skips the build). It
adds a moderator, then REPEATS times: starts ``moderation dashboard`` on the store (sign-in on),
opens it in headless Chromium (Debian's, through playwright; never ``playwright install``),
signs in and waits until the first thread row of the queue is visible. "cold" is the first load
after the server started (nothing cached: the store is opened, the queue read, the page built);
"warm" is a reload of the same page (a new Streamlit session, so the sign-in again, but the
server's caches are filled). Each load is timed from the navigation and from the sign-in click.
The operating system's file cache is not dropped between repeats. Floor: under 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from common import RESULTS_DIR, STORE_THREADS, build_store, markdown_table, save_results, store_dump

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dashboard_server import ServerError, running_dashboard

from moderation import review
from moderation.store import comments, open_store

CHROMIUM = Path("/usr/bin/chromium")
USER, PASSWORD = "bench", "correct horse battery"
FLOOR_S = 3.0
TIMEOUT_MS = 120_000


def _prepare_store(db: Path, rows: int, threads: int) -> tuple[str, str]:
    """The store's URL, built unless ``db`` already holds ``rows`` comments; and what was done."""
    url = f"sqlite:///{db}"
    done = "reused"
    if not db.exists():
        dump = store_dump(rows, threads=threads)
        summary, seconds = build_store(url, dump)
        done = f"built in {seconds:.0f} s ({summary.line()})"
    with open_store(url) as store:
        held = int(store.read(sa.select(sa.func.count()).select_from(comments)).iat[0, 0])
        if held != rows:
            sys.exit(f"{db} holds {held:,} comments, not {rows:,}: delete it or pass another --db")
        review.add_user(store, name=USER, password=PASSWORD, role="moderator")
    return url, done


def _load(page, base: str, *, reload: bool) -> dict[str, float]:
    """Navigate (or reload), sign in, and wait for the queue's first row to be visible."""
    started = time.perf_counter()
    if reload:
        page.reload()
    else:
        page.goto(base)
    page.locator(".st-key-login_name input").fill(USER)
    page.locator(".st-key-login_password input").fill(PASSWORD)
    clicked = time.perf_counter()
    page.get_by_role("button", name="sign in").click()
    page.locator(".mod-thread").first.wait_for(state="visible")
    done = time.perf_counter()
    return {"navigation_s": done - started, "sign_in_s": done - clicked}


def measure(url: str, repeats: int, log: Path) -> list[dict]:
    from playwright.sync_api import sync_playwright

    loads: list[dict] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        for repeat in range(repeats):
            try:
                with running_dashboard(url, log) as (base, ready_s):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    loads.append({"repeat": repeat, "load": "cold", "server_ready_s": ready_s,
                                  **_load(page, base, reload=False)})  # fmt: skip
                    loads.append({"repeat": repeat, "load": "warm", **_load(page, base, reload=True)})
                    context.close()
            except ServerError as error:
                sys.exit(str(error))
        browser.close()
    return loads


def summarise(loads: list[dict], rows: int) -> list[dict]:
    table = []
    for kind, meaning in (("cold", "first load after server start"), ("warm", "reload")):
        chosen = [load for load in loads if load["load"] == kind]
        navigation = [load["navigation_s"] for load in chosen]
        table.append(
            {
                "load": f"{kind} ({meaning})",
                "comments": rows,
                "repeats": len(chosen),
                "median s, navigation → first row": statistics.median(navigation),
                "max s": max(navigation),
                "median s, sign-in click → first row": statistics.median(
                    load["sign_in_s"] for load in chosen
                ),
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=STORE_THREADS)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (built when missing)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        sys.exit(f"{CHROMIUM} is missing; install Debian's chromium (never `playwright install`)")
    RESULTS_DIR.mkdir(exist_ok=True)
    db = (args.db or RESULTS_DIR / f"paint_{args.rows}.db").resolve()
    url, done = _prepare_store(db, args.rows, args.threads)
    print(f"store {db}: {done}")
    log = RESULTS_DIR / "dashboard_paint.log"
    log.unlink(missing_ok=True)
    loads = measure(url, args.repeats, log)
    table = summarise(loads, args.rows)
    print(markdown_table(table))
    worst = max(row["median s, navigation → first row"] for row in table)
    print(f"\nfloor: queue first paint under {FLOOR_S:.0f} s: {'met' if worst < FLOOR_S else 'NOT met'}")
    path = save_results("dashboard_paint", table, loads=loads, db=str(db), floor_s=FLOOR_S)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
