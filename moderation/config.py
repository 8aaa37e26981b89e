"""Configuration in one place: paths, limits, column names and defaults.

Every other module reads its literals from here, so a site can see (and a test can
override) every knob without hunting through the code.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project checkout (the folder holding ``moderation/``, ``models/`` and ``data/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Versioned model artifacts and the ``ACTIVE`` pointer live here.
MODELS_DIR = Path(os.environ.get("MODERATION_MODELS_DIR", PROJECT_ROOT / "models"))

#: Small demo threads written by the project (not copies of public data).
DEMO_DATA_DIR = PROJECT_ROOT / "data"

#: The public corpora, beside the checkout; absent on a fresh clone.
SHARED_DIR = Path(os.environ.get("MODERATION_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
SHARED_DATA_DIR = SHARED_DIR / "data"

#: Database URL when neither ``--db`` nor ``MODERATION_DB`` is given.
DEFAULT_DB_FILE = "moderation.db"
DB_ENV_VAR = "MODERATION_DB"

# --- the store and the review workflow (moderation.store, moderation.review) ------------------

#: How long a SQLite connection waits for another writer before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: SQLite durability: FULL syncs the WAL on every commit, so a decision survives a power cut.
SQLITE_SYNCHRONOUS = "FULL"
#: Rows looked up per query when ingest checks which comments it already holds (both SQLite's
#: and PostgreSQL's limits on bound parameters stay far away).
STORE_LOOKUP_BATCH = 2_000
#: Threads whose roll-ups are refreshed per query.
STORE_THREAD_BATCH = 500
#: Rows per frame when ``rescore`` reads comments back from the store (whole threads).
RESCORE_CHUNK_ROWS = 20_000
#: Who ingest and rescore are recorded as in the audit log (not a valid user name).
INGEST_ACTOR = "(ingest)"
#: Who a command run at the command line acts as: whoever holds the database itself.
OPERATOR_ACTOR = "(operator)"
#: Roles, least powerful first.
ROLES = ("moderator", "admin")
#: Label values a moderator can give, and the decisions a moderator can make.
LABEL_VALUES = ("yes", "no", "unsure")
DECISION_ACTIONS = ("approve", "reject", "escalate", "restore")
#: Allowed user names (letters, digits, '.', '_', '-'), so a name never needs quoting anywhere.
USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: Weight of a moderator's label in training, relative to a corpus row's (1.0): the site's own
#: decisions count more than public data about other sites.
MODERATOR_LABEL_WEIGHT = 3.0
#: Shortest password accepted by ``moderation users add``.
MIN_PASSWORD_LENGTH = 8
#: Default page size of the queues, and the largest a caller may ask for.
QUEUE_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1_000
#: The uncertainty queue: at most this many comments per thread, so one thread cannot fill it.
NEAR_THRESHOLD_PER_THREAD = 2
#: Bins of the score histograms on the Stats page.
SCORE_BINS = 20
#: Fewest comments two raters (two moderators, or a moderator and the model) must both have
#: labelled before the Stats page shows a Cohen's kappa for them: below it one comment swings it.
MIN_KAPPA_ITEMS = 5

# --- reading ---------------------------------------------------------------------------------

#: Rows per frame yielded by the readers: bounds memory however large the dump is.
CHUNK_ROWS = 20_000

#: Column names tried, in order and ignoring case, when ``--text-column`` is not given.
TEXT_COLUMN_CANDIDATES = (
    "text",
    "comment",
    "body",
    "content",
    "comment_text",
    "message",
    "tweet",
)
ID_COLUMN_CANDIDATES = ("comment_id", "id", "post_id", "rev_id", "name")
PARENT_COLUMN_CANDIDATES = ("parent_id", "parent", "reply_to", "in_reply_to", "parent_comment_id")
THREAD_COLUMN_CANDIDATES = ("thread_id", "thread", "link_id", "article_id", "post", "conversation_id")
AUTHOR_COLUMN_CANDIDATES = ("author", "user", "username", "user_name", "screen_name", "name")
TIME_COLUMN_CANDIDATES = ("created_at", "created_utc", "date", "timestamp", "time", "created")

#: Bytes read from the start of a file to sniff its format.
SNIFF_BYTES = 64 * 1024

#: Largest decompressed size accepted from one .gz or .zst input (decompression bombs).
MAX_DECOMPRESSED_BYTES = int(os.environ.get("MODERATION_MAX_DECOMPRESSED_BYTES", 20 * 1024**3))

#: Largest compression ratio accepted before a compressed input is treated as a bomb. Real
#: comment dumps compress 5-20x; gzip tops out near 1030x, so 200x stops bombs early.
MAX_COMPRESSION_RATIO = 200

#: Below this many decompressed bytes the ratio limit does not apply (tiny, repetitive files).
MIN_DECOMPRESSED_LIMIT = 256 * 1024 * 1024

#: Largest single comment kept whole; longer texts are truncated for scoring, never dropped.
MAX_COMMENT_CHARS = 100_000

#: Deepest JSON nesting accepted in one record.
MAX_JSON_DEPTH = 64

#: Most physical lines one CSV/TSV record may span. A quoted field running on longer is taken
#: as a quote that was never closed: its first line is rejected and the rest read again.
MAX_RECORD_LINES = 10_000

#: Largest single line (bytes) accepted in a JSONL/NDJSON file.
MAX_LINE_BYTES = 64 * 1024 * 1024

#: Largest XML file parsed whole (Disqus, WXR exports).
MAX_XML_BYTES = 2 * 1024**3

#: Bytes searched at the start of an XML file for its root element (after comments, DOCTYPE).
XML_PROLOG_BYTES = 1024 * 1024

#: Undeclared namespace prefixes an XML export may use before it is refused as broken. Real
#: WordPress.com exports use ``atom:`` without declaring it; the declaration is added for them.
MAX_XML_UNDECLARED_PREFIXES = 64

#: Namespaces that feeds use under these prefixes, declared when an export forgets them.
KNOWN_XML_NAMESPACES = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "georss": "http://www.georss.org/georss",
    "geo": "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "media": "http://search.yahoo.com/mrss/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
    "sy": "http://purl.org/rss/1.0/modules/syndication/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "wp": "http://wordpress.org/export/1.2/",
}

#: WordPress ``comment_approved`` values -> canonical status (anything else: ``unapproved``).
WXR_APPROVAL_STATUS = {
    "1": "approved",
    "approve": "approved",
    "0": "unapproved",
    "hold": "unapproved",
    "spam": "spam",
    "trash": "deleted",
    "post-trashed": "deleted",
}

#: Reddit bodies that stand for a comment deleted by its author or removed by a moderator;
#: the rows are kept (status ``deleted``) because replies still hang under them.
REDDIT_DELETED_BODIES = ("[deleted]", "[removed]")

#: ToxiChat bot replies appended to each thread -> the author name given to them.
TOXICHAT_BOT_RESPONSES = {"final_dgpt_response": "dgpt", "final_gpt3_response": "gpt3"}

# --- scoring ---------------------------------------------------------------------------------

#: Labels the classifier scores, in output column order.
LABELS = ("insult", "troll")

#: Thresholds used when a model card does not carry its own.
DEFAULT_THRESHOLDS = {"insult": 0.5, "troll": 0.5}

#: How many terms go into the ``reasons`` column.
REASON_TERMS = 5

#: Roll-ups: how many of the worst comments a top-k mean averages over.
ROLLUP_TOP_K = 3

#: Thread (and author) risk = the weighted sum of: the worst comment's hostility (the larger
#: of its two scores), the mean hostility of the ``ROLLUP_TOP_K`` worst comments, and the
#: share of flagged comments. The weights sum to 1, so risk stays between 0 and 1.
ROLLUP_RISK_WEIGHTS = {"worst": 0.4, "top_k": 0.4, "flagged_share": 0.2}

#: Author troll risk = the weighted sum of: the mean troll score of the author's
#: ``ROLLUP_TOP_K`` most trollish comments, their flagged share, and how many different
#: threads hold a flagged comment of theirs (capped at ``AUTHOR_SPREAD_THREADS``, as a share).
AUTHOR_TROLL_WEIGHTS = {"top_k_troll": 0.5, "flagged_share": 0.25, "flagged_threads": 0.25}
AUTHOR_SPREAD_THREADS = 5

#: Each label's threshold from the corpora: the best weighted F-beta of its grouped out-of-fold
#: scores. Troll weighs precision twice as much as recall (beta 0.5): its corpora hold 4 in 10
#: trolls where a site holds few, and its head is the weaker one (TRAC AUC 0.77), so the best F1
#: there (0.35 for 2026.12-v4) flagged a third of ordinary blog comments on text alone.
THRESHOLD_BETA = {"insult": 1.0, "troll": 0.5}

#: Target precision when thresholds are chosen from moderators' labels.
TARGET_PRECISION = 0.9
#: A label's threshold comes from the moderators' labels only when they hold at least this many
#: positives (and as many negatives); below that the corpus threshold (best F-beta) stays.
SITE_THRESHOLD_MIN_LABELS = 30
#: The scores are recalibrated to the moderators' labels (``classifier.SiteCalibration``) only
#: when the labels that train hold at least this many positives and as many negatives.
SITE_CALIBRATION_MIN_LABELS = 30
#: Bootstrap resamples for the confidence interval of a threshold chosen from labels.
THRESHOLD_BOOTSTRAP = 1_000

# --- the dashboard (dashboard/, moderation dashboard) ------------------------------------------

#: Tells dashboard/app.py whether to ask for a sign-in ("off": everyone is the local admin).
DASHBOARD_AUTH_ENV_VAR = "MODERATION_DASHBOARD_AUTH"
#: The only addresses the dashboard may listen on without a sign-in.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: How long a cached read may be served before it is read again (another moderator's change
#: shows up within this; one's own change shows at once).
DASHBOARD_QUERY_TTL_SECONDS = 10
#: Spans depend only on the model version and the texts, so they are kept longer.
DASHBOARD_SPANS_TTL_SECONDS = 3600
#: Indent of one reply level on the Thread page, and the deepest level indented further.
THREAD_INDENT_REM = 1.5
THREAD_MAX_INDENT_LEVELS = 12
#: Characters of the worst comment shown on a queue row.
QUEUE_SNIPPET_CHARS = 280
#: Rows per page offered on the Queue and Thread pages, and the fixed page size elsewhere.
QUEUE_PAGE_SIZES = (10, 25, 50, 100)
THREAD_PAGE_SIZES = (25, 50, 100, 200)
AUTHOR_PAGE_SIZE = 50
NEEDS_REVIEW_PAGE_SIZE = 20
LABEL_ISSUES_PAGE_SIZE = 20

# --- retraining: the fixed evaluation set and the promotion gate (moderation.gate) -------------

#: Share of threads (in percent) whose moderators' labels never train and only evaluate. A thread
#: is held out by the hash of its id, so the same threads stay held out from run to run.
EVAL_HOLDOUT_PERCENT = 20
#: The gate refuses a candidate whose ROC AUC on any evaluation split is more than this below the
#: active model's ...
GATE_SPLIT_TOLERANCE = 0.01
#: ... or whose mean ROC AUC over the splits is more than this below it. A split counts only when it
#: holds at least ``GATE_MIN_CLASS_ROWS`` rows of each class (fewer give an AUC too noisy to gate on).
GATE_MEAN_TOLERANCE = 0.002
GATE_MIN_CLASS_ROWS = 20

#: Background training jobs (``moderation.jobs``): their state and logs live in this folder of the
#: models directory (a dot folder, so the registry never takes it for a version); the Models page
#: polls a running job this often and shows this many of its log's last lines.
JOBS_DIR = ".jobs"
JOB_POLL_SECONDS = 2.0
JOB_LOG_TAIL_LINES = 15
#: What ``moderation train`` prints before each stage, so a job's log shows how far it got.
STAGE_PREFIX = "stage: "

#: Fixed seed for everything random in training and evaluation.
SEED = 20261125

# --- model: features, explanations, training (moderation.features/classifier/explain/training) ---

#: A label's reasons are listed only when its score reaches this (low scores need no reason).
REASON_MIN_SCORE = 0.3

#: A comment is not flagged when fewer than this share of its words have a weight in the model
#: (were seen in training): it is in a language the model does not read, and its scores rest on
#: the heads' priors and on context alone. English comments sit at a median of 0.98 (under 0.6%
#: below 0.5 in the bench sample); Chinese and Turkish blog comments at 0.35, because about a
#: quarter of unseen words share a hashed column with a seen one. Its reasons say why.
MIN_KNOWN_WORD_SHARE = 0.5
UNREAD_PREFIX = "not flagged: "

#: A word is highlighted as an offending span when its contribution to the head's log-odds
#: reaches SPAN_RELATIVE of the largest in its comment (function words left out), and at least
#: SPAN_MIN_CONTRIBUTION. Chosen by span F1 on the SemEval-2021 toxic spans *train* split
#: (bench/bench_spans.py: floors 0-0.4 x fractions 0-0.9), never on its test split; the floor is
#: 0.05 rather than the grid's 0 (0.002 F1 better) so that a word adding nothing is never lit.
SPAN_MIN_CONTRIBUTION = 0.05
SPAN_RELATIVE = 0.6

#: The shipped default model, its artifact and card file names inside ``models/<version>/``.
MODEL_ARTIFACT = "model.joblib"
MODEL_CARD = "model.json"
ACTIVE_POINTER = "ACTIVE"
#: The ``models/`` history file that ``rollback`` walks back through.
ACTIVE_HISTORY = "ACTIVE.history"
#: Largest default model the project ships (issue 4).
MAX_SHIPPED_MODEL_BYTES = 50 * 1024**2

#: Grouped folds for model selection and calibration.
CV_FOLDS = 5

#: Label issues (``moderation.label_issues``): grouped folds of the out-of-fold probabilities,
#: the inverse regularisation of their logistic regression (the shipped insult head's), and how
#: many suspects ``moderation label-issues`` prints.
LABEL_ISSUE_FOLDS = 5
LABEL_ISSUE_C = 2.0
LABEL_ISSUE_PRINTED = 20

#: Bins of the reliability diagram and of the expected calibration error.
CALIBRATION_BINS = 10

#: Context weights of the troll head (log-odds per unit of each context signal) used when the
#: training data holds too few troll-labelled rows with thread context to learn them (the
#: default, licence-clean corpora have none: ELF24 is non-commercial). They are a stated prior,
#: recorded in the model card; ``moderation train --data default,+elf24`` learns them instead.
#: Order and meaning: ``moderation.features.CONTEXT_FEATURES``.
CONTEXT_PRIOR_WEIGHTS = {
    "has_context": 0.0,
    "reply_depth": 0.1,
    "is_reply": 0.0,
    "hostility_to_parent": 1.0,
    "parent_hostility": 0.3,
    "called_troll": 1.2,
    "author_share": 1.5,
    "author_exchanges": 0.5,
    "repetition": 0.8,
    "title_distance": 0.5,
}

#: Fewest troll-labelled training rows with thread context needed to learn the context weights.
MIN_CONTEXT_TRAINING_ROWS = 200
