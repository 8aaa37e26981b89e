"""The calibrated heads and ``ModerationModel.score_frame``, on the shipped default model."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from moderation import config
from moderation.classifier import CalibratedLinearHead, ModerationModel, SiteCalibration
from moderation.errors import ModelError
from moderation.evaluate import expected_calibration_error
from moderation.model import _NUL_AND_CONTROLS, _model_text, not_read
from moderation.registry import load_model

# Out-of-fold calibration means each row's weight changes which fold calibrates which row, so a
# weight of 2 is not the same as a duplicated row, and a weight of 0 still moves the folds.
_CROSS_FITTED = "calibration is fitted on shuffled out-of-fold scores, so weights move fold membership"


@parametrize_with_checks(
    [CalibratedLinearHead(cv=3), CalibratedLinearHead(cv=3, solver="lbfgs")],
    expected_failed_checks=lambda estimator: {
        "check_sample_weight_equivalence_on_dense_data": _CROSS_FITTED,
        "check_sample_weight_equivalence_on_sparse_data": _CROSS_FITTED,
        "check_sample_weights_invariance": _CROSS_FITTED,
        "check_class_weight_classifiers": "calibration maps scores back to observed frequencies, "
        "which undoes class weights by design",
    },
)
def test_estimator_contract(estimator, check) -> None:
    check(estimator)


def test_head_is_calibrated_on_planted_probabilities() -> None:
    rng = np.random.default_rng(config.SEED)
    X = rng.normal(size=(4000, 3))
    truth = 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1])))
    y = (rng.random(4000) < truth).astype(int)
    head = CalibratedLinearHead(C=1.0).fit(X[:3000], y[:3000])
    predicted = head.predict_proba(X[3000:])[:, 1]
    assert np.abs(predicted - truth[3000:]).mean() < 0.05


def _memorising_rows(n: int, rng: np.random.Generator, first_id: int) -> tuple:
    """Rows whose label follows one dense signal, each also holding an id column of its own
    (so that a linear fit can memorise every training row by its id)."""
    from scipy import sparse

    y = rng.integers(0, 2, n)
    signal = rng.normal(loc=1.2 * y, scale=1.0)
    ids = sparse.csr_matrix((np.ones(n), (np.arange(n), first_id + np.arange(n))), shape=(n, 3 * n + 1))
    return sparse.hstack([ids, sparse.csr_matrix(signal[:, None])], format="csr"), y, signal


def test_a_stacked_column_is_weighed_on_out_of_fold_scores() -> None:
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(config.SEED)
    X, y, _ = _memorising_rows(600, rng, 0)
    new_X, new_y, new_signal = _memorising_rows(600, rng, 1200)  # ids never seen in training
    last = X.shape[1] - 1
    plain = CalibratedLinearHead(C=4.0).fit(X, y)
    stacked = CalibratedLinearHead(C=4.0, stacked=(last,)).fit(X, y)
    # Fitted among the ids, the signal gets too little weight; weighed out of fold, it gets
    # what it earns on new rows (the planted log-odds slope is 1.2 per unit of the signal).
    assert stacked.coef_[0, last] * stacked.calibrator_.coef_[0, 0] > 0.8
    losses = [log_loss(new_y, head.predict_proba(new_X)[:, 1]) for head in (stacked, plain)]
    assert losses[0] < losses[1]
    # The weight is folded into the linear part: a plain Platt map of one linear score.
    raw = new_X @ stacked.coef_[0] + stacked.intercept_[0]
    slope, offset = stacked.calibrator_.coef_[0, 0], stacked.calibrator_.intercept_[0]
    assert stacked.predict_proba(new_X)[:, 1] == pytest.approx(1 / (1 + np.exp(-(slope * raw + offset))))
    ordered = stacked.predict_proba(new_X)[np.argsort(new_signal), 1]
    assert np.all(np.diff(ordered) >= 0)  # on unseen ids only the signal moves the score
    with pytest.raises(ValueError, match="stacked columns"):
        CalibratedLinearHead(stacked=(X.shape[1],)).fit(X, y)
    with pytest.raises(ValueError, match="sigmoid"):
        CalibratedLinearHead(stacked=(last,), calibration="isotonic").fit(X, y)


@pytest.mark.parametrize("solver", ["liblinear", "lbfgs"])
def test_empty_columns_change_nothing_and_get_no_weight(solver: str) -> None:
    from scipy import sparse

    # The hashed space has two million columns and a training set fills a few hundred thousand:
    # the fit skips the empty ones, so widening X with empty columns fits the very same head.
    rng = np.random.default_rng(config.SEED)
    X, y, _ = _memorising_rows(400, rng, 0)
    X = sparse.csr_matrix(X)
    spread = np.sort(rng.choice(X.shape[1] + 5000, size=X.shape[1], replace=False))
    wide = sparse.csr_matrix((X.data, spread[X.indices], X.indptr), shape=(X.shape[0], X.shape[1] + 5000))
    narrow_head = CalibratedLinearHead(C=4.0, solver=solver, cv=3).fit(X, y)
    wide_head = CalibratedLinearHead(C=4.0, solver=solver, cv=3).fit(wide, y)
    assert wide_head.coef_.shape == (1, wide.shape[1])
    empty = np.setdiff1d(np.arange(wide.shape[1]), spread)
    assert not wide_head.coef_[0, empty].any()
    assert np.array_equal(wide_head.coef_[0, spread], narrow_head.coef_[0])
    assert np.array_equal(wide_head.predict_proba(wide), narrow_head.predict_proba(X))
    assert np.array_equal(wide_head.oof_proba_, narrow_head.oof_proba_)
    # and it is the fit scikit-learn gives on the full width, to the solver's tolerance
    from sklearn.linear_model import LogisticRegression

    full = LogisticRegression(C=4.0, solver=solver, max_iter=2000, tol=1e-8).fit(wide, y)
    assert np.abs(full.decision_function(wide) - wide_head.raw_scores(wide)).max() < 0.05
    # rows with no value at all (empty comments) still fit: the intercept alone, the base rate
    blank = CalibratedLinearHead(solver=solver, calibration=None).fit(sparse.csr_matrix(X.shape), y)
    assert not blank.coef_.any()
    assert blank.predict_proba(X[:5])[:, 1] == pytest.approx(np.full(5, y.mean()), abs=0.02)


@pytest.fixture(scope="module")
def model() -> ModerationModel:
    return load_model()


def _frame(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(len(texts))], "text": texts})


def test_score_frame_keeps_rows_order_index_and_columns(model: ModerationModel) -> None:
    frame = _frame(["You are an idiot", "Lovely weather today", "", "You are an idiot"]).set_index(
        pd.Index([10, 3, 7, 1])
    )
    frame["extra"] = ["a", "b", "c", "d"]
    scored = model.score_frame(frame)
    assert list(scored.index) == [10, 3, 7, 1]
    assert list(scored["extra"]) == ["a", "b", "c", "d"]
    assert list(scored.columns[-5:]) == ["insult_score", "troll_score", "flag", "reasons", "model_version"]
    for column in ("insult_score", "troll_score"):
        assert scored[column].between(0, 1).all()
    assert scored["model_version"].eq(model.version).all()
    assert scored["insult_score"].iloc[0] == scored["insult_score"].iloc[3]  # repeated text, same score
    assert scored["insult_score"].iloc[0] > scored["insult_score"].iloc[1]


def test_scores_are_deterministic(model: ModerationModel) -> None:
    frame = _frame(["You are an idiot", "What a nice day", "shut up you moron!!!"])
    first, again = model.score_frame(frame), load_model().score_frame(frame.copy())
    pd.testing.assert_frame_equal(first, again)


def test_flags_follow_the_card_thresholds(model: ModerationModel) -> None:
    scored = model.score_frame(
        _frame(["You are a pathetic idiot", "Thanks for sharing", "Go away troll, you shill"])
    )
    for row in scored.itertuples():
        expected = [
            label
            for label, score in (("insult", row.insult_score), ("troll", row.troll_score))
            if score >= model.thresholds[label]
        ]
        assert row.flag == ",".join(expected)


def test_a_comment_the_model_cannot_read_is_not_flagged_and_says_why(model: ModerationModel) -> None:
    # Chinese, German and romanised Urdu: most of their words were never seen in training, so
    # the scores rest on priors; "@handles", links and numbers do not count as words at all.
    foreign = [
        "有邮件回复么？结果就是进度不一致。唉，粗心 呵呵 是啊",
        "Ich habe neulich bei einem Supermarkt angefangen zu arbeiten",
        "Mubarh ho subh pakistanio ko",
    ]
    english = ["@some_user @other_user42 you are a pathetic idiot http://t.co/x1y2 2024", "great post"]
    scored = model.score_frame(_frame(foreign + english))
    unread = pd.Series(not_read(scored))
    assert unread.tolist() == [True] * len(foreign) + [False] * len(english)
    assert scored.loc[unread, "reasons"].str.contains(r"knows \d+ of its \d+ words").all()
    assert scored.loc[len(foreign), "flag"].startswith("insult")  # handles and links are not words
    # Only the flag is withheld, also where a score reaches its threshold; the scores stay.
    over = (scored["troll_score"] >= model.thresholds["troll"]) | (
        scored["insult_score"] >= model.thresholds["insult"]
    )
    assert over[unread].any()
    assert (scored.loc[unread, "flag"] == "").all()
    alone = model.score_texts(foreign).to_numpy()
    assert np.allclose(alone, scored.loc[unread, ["insult_score", "troll_score"]].to_numpy())


def test_reasons_of_a_comment_do_not_depend_on_what_else_is_in_the_frame(model: ModerationModel) -> None:
    # Ties (the words of one "@a_b" chunk share its character n-grams) rank in text order.
    text = "'@Daa_Boy_Rell @sluttyboy_kush @keem_Escobar you. A bitch too"
    others = ["You are a pathetic idiot", "Thanks for sharing", "有邮件回复么？", "nobody cares, loser"]
    alone = model.score_frame(_frame([text])).loc[0, "reasons"]
    for batch in ([*others, text], [text, *others[::-1]], [others[2], text]):
        scored = model.score_frame(_frame(batch))
        assert scored.loc[batch.index(text), "reasons"] == alone


def test_reasons_name_the_offending_words(model: ModerationModel) -> None:
    scored = model.score_frame(_frame(["You are a pathetic id10t", "See you at the game tomorrow"]))
    assert scored.loc[0, "reasons"].startswith("insult: ")
    assert "idiot" in scored.loc[0, "reasons"]
    assert scored.loc[1, "reasons"] == ""


def test_flagged_rows_always_carry_reasons(model: ModerationModel) -> None:
    texts = [
        "you are an idiot",
        "what a moron",
        "nobody cares, loser",
        "this is bullshit",
        "great post",
        "fine",
    ]
    scored = model.score_frame(_frame(texts))
    assert (scored.loc[scored["flag"] != "", "reasons"] != "").all()


def test_nfc_and_nfd_score_the_same(model: ModerationModel) -> None:
    text = "Señor, você é um idiota; naïve café crème"
    nfc = model.score_texts([unicodedata.normalize("NFC", text)])
    nfd = model.score_texts([unicodedata.normalize("NFD", text)])
    pd.testing.assert_frame_equal(nfc, nfd)


def test_obfuscation_barely_moves_the_score(model: ModerationModel) -> None:
    variants = [
        "you are an idiot",
        "you are an id1ot",
        "you are an 1diot",  # leetspeak at the start of a word (folding version 2)
        "you are an i.d.i.o.t",
        "you are an ｉｄｉｏｔ",
        "you are an i d i o t",
    ]
    scores = model.score_texts(variants)["insult_score"].to_numpy()
    assert scores.max() - scores.min() <= 0.1


def test_insults_outscore_friendly_comments(model: ModerationModel) -> None:
    insults = ["you are a worthless idiot", "shut up, you pathetic moron", "you're so stupid it hurts"]
    friendly = [
        "thanks, that is a great point",
        "I agree with you completely",
        "see you at the match on Sunday",
    ]
    scores = model.score_texts(insults + friendly)["insult_score"].to_numpy()
    assert scores[:3].min() > scores[3:].max()


def test_empty_frame_and_missing_text_column(model: ModerationModel) -> None:
    empty = model.score_frame(pd.DataFrame({"text": pd.Series([], dtype=object)}))
    assert len(empty) == 0 and "insult_score" in empty.columns
    with pytest.raises(ModelError, match="text"):
        model.score_frame(pd.DataFrame({"body": ["hi"]}))


def test_context_raises_troll_score_of_a_comment_called_a_troll(model: ModerationModel) -> None:
    text = "Everyone who disagrees with me is a paid government agent."
    alone = model.score_frame(pd.DataFrame({"text": [text]}))["troll_score"].iloc[0]
    thread = pd.DataFrame(
        {
            "comment_id": ["a", "b", "c", "d"],
            "thread_id": ["t"] * 4,
            "parent_id": ["", "a", "a", "a"],
            "author": ["x", "y", "z", "w"],
            "depth": [0, 1, 1, 1],
            "text": [text, "Don't feed the troll.", "Obvious troll is obvious.", "Nice try, shill."],
        }
    )
    in_thread = model.score_frame(thread)["troll_score"].iloc[0]
    assert in_thread > alone


# --- the site calibration ------------------------------------------------------------------------


def _site_labels(n: int, *, odds: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities a model gives, and a site's labels whose odds are ``odds`` times them."""
    rng = np.random.default_rng(config.SEED)
    p = rng.beta(0.6, 1.6, size=n)
    shifted = p * odds / (p * odds + 1 - p)
    return p, (rng.random(n) < shifted).astype(int)


def test_site_calibration_fixes_a_prior_shift_and_keeps_the_order() -> None:
    p, y = _site_labels(4000, odds=0.25)  # the site's moderators flag much less than the corpora
    fitted = SiteCalibration.fit(p[:2000], y[:2000])
    judged = fitted.apply(p[2000:])
    before = expected_calibration_error(y[2000:], p[2000:])
    assert before > 0.1
    assert expected_calibration_error(y[2000:], judged) < 0.03
    assert fitted.a >= 0 and fitted.b >= 0
    assert np.all(np.diff(judged[np.argsort(p[2000:])]) >= 0)  # increasing: no AUC changes


def test_identity_site_calibration_changes_nothing_and_a_falling_one_is_refused() -> None:
    p, y = _site_labels(500, odds=1.0)
    assert SiteCalibration().apply(p) == pytest.approx(p, abs=1e-9)
    with pytest.raises(ValueError, match="both classes"):
        SiteCalibration.fit(p, np.zeros(len(p)))
    with pytest.raises(ValueError, match="do not rise"):
        SiteCalibration.fit(p, 1 - y)


def test_a_steep_site_calibration_maps_the_tails_to_0_and_1_without_an_overflow_warning() -> None:
    # ln(1e-6) * 60 = -829: exp(829) is past float range (pytest turns the warning into an error).
    steep = SiteCalibration(a=60.0, b=60.0, c=0.0)
    mapped = steep.apply(np.array([1e-9, 1e-6, 0.5, 1 - 1e-6, 1.0]))
    assert mapped.tolist() == [0.0, 0.0, pytest.approx(0.5), 1.0, 1.0]


def test_site_calibration_rescales_the_output_scores_and_flags(model: ModerationModel) -> None:
    import copy

    frame = pd.DataFrame({"text": ["you are a pathetic idiot", "thanks, a fair point", "who cares"]})
    plain = model.score_frame(frame, explain=False)
    site = copy.copy(model)
    site.site_calibration = {"insult": SiteCalibration(a=1.0, b=1.0, c=-2.0)}  # odds times e^-2
    rescaled = site.score_frame(frame, explain=False)
    before, after = plain["insult_score"].to_numpy(), rescaled["insult_score"].to_numpy()
    assert after / (1 - after) == pytest.approx(before / (1 - before) * np.exp(-2), rel=1e-4)
    # The troll head still reads the head's own insult probability as hostility: unchanged.
    assert rescaled["troll_score"].tolist() == plain["troll_score"].tolist()
    expected = site.flags(rescaled["insult_score"].to_numpy(), rescaled["troll_score"].to_numpy())
    assert rescaled["flag"].tolist() == expected.tolist()


# Controls (dropped), the breaks and tabs that stay, unprintable but kept characters, and
# decomposed accents (NFC), so that the check before str.translate meets each of them.
_model_characters = st.sampled_from(
    [*(chr(code) for code in range(0x20)), "\x7f", "\x85", "\u00a0", "\u2028", "\u200b", "e\u0301", "a", " "]
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(st.lists(_model_characters, max_size=12).map("".join), st.text(max_size=40)))
@example(text="plain words")
@example(text="tab\tand\nbreak\r")
@example(text="nul\x00 inside")
def test_model_text_drops_exactly_what_translating_every_text_drops(text: str) -> None:
    every_text_translated = unicodedata.normalize("NFC", text).translate(_NUL_AND_CONTROLS)
    assert _model_text(text) == every_text_translated
    assert type(_model_text(text)) is str
