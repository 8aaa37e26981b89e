"""Features: obfuscation folding, the hashed n-grams and their fast paths, lexical and context signals."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from moderation import kernel
from moderation.features import (
    CONTEXT_FEATURES,
    ContextSignals,
    HashedTextFeatures,
    LexicalSignals,
    TextFeatures,
    context_matrix,
    fold_text,
    fold_texts,
)
from moderation.kernel import lexical_feature_names

OBFUSCATED_IDIOT = [
    "idiot",
    "IDIOT",
    "id1ot",
    "id10t",
    "i d i o t",
    "i.d.i.o.t",
    "i-d-i-o-t",
    "ｉｄｉｏｔ",  # fullwidth
    "іdіоt",  # Cyrillic і and о
    "id\u200biot",  # zero-width space
    "idiooooot",
    "ídíót",
    "𝐢𝐝𝐢𝐨𝐭",  # mathematical bold
]


@pytest.mark.parametrize("variant", OBFUSCATED_IDIOT)
def test_obfuscated_spellings_fold_to_the_plain_word(variant: str) -> None:
    assert fold_text(f"you {variant}!") == "you idiot!"


@pytest.mark.parametrize(
    ("masked", "plain"),
    [
        ("f*ck off", "fuck off"),
        ("sh!t", "shit"),
        ("a**hole", "asshole"),
        ("$hit", "shit"),
        ("@ss", "ass"),
        ("b1tch", "bitch"),
    ],
)
def test_masked_and_leet_profanity_is_filled_in(masked: str, plain: str) -> None:
    assert fold_text(masked) == plain


@pytest.mark.parametrize(
    "ordinary",
    [
        "born in 1985, 2nd place",
        "@user hello #maga",
        "what? 100%!",
        "mp3 at 10am",
        "U.S. news",
        "good idea!!!",
    ],
)
def test_ordinary_text_is_only_lower_cased(ordinary: str) -> None:
    assert fold_text(ordinary) == ordinary.lower()


def test_nfc_and_nfd_fold_the_same() -> None:
    text = "Crème brûlée, naïve Zoë — Ångström"
    assert fold_text(unicodedata.normalize("NFC", text)) == fold_text(unicodedata.normalize("NFD", text))


def test_batch_folding_equals_one_at_a_time() -> None:
    texts = [
        "You ID10T",
        "",
        None,
        "i d i o t and f*ck",
        "plain text",
        "x\x00y",
        "  spaced   out  ",
        "ｆｕｌｌ",
    ]
    assert fold_texts(texts) == [fold_text(t) if isinstance(t, str) else "" for t in texts]
    assert fold_texts([]) == []


def _fold_regexes_on_whole_texts(texts: list[str], version: int) -> str:
    # What _fold_strings computes, the plain way: the regexes on every text (version 2) or on
    # every text the pre-filter flags (version 1), whole.
    def lower(text: str) -> str:
        if text.isascii():
            return text.lower()
        return kernel._HOMOGLYPH.sub(kernel._homoglyph, kernel._fold_unicode(text).lower())

    lowered = [lower(t) for t in texts]
    joined = "\x00".join(lowered)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    starts = np.r_[0, np.flatnonzero(codes == 0) + 1]
    flagged = set(np.searchsorted(starts, np.flatnonzero(kernel._needs_regex(codes)), side="right") - 1)
    if version >= 2:
        flagged = set(range(len(texts)))
    return "\x00".join(kernel._fold_regexes(t) if i in flagged else t for i, t in enumerate(lowered))


# Characters the folding regexes match or look at, drawn often so that they meet.
_FOLDABLE = st.lists(
    st.sampled_from([*"abdiotsxz0134@$!|+*#%.-_· \n,'é", "sh", "ss"]), max_size=30
).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(_FOLDABLE, max_size=8))
@example(["a x*1 c d", "x*1*y", "1diot and id10t", "é1d0t", "i d i o t", "f.u.c.k you", "@ss"])
@example(["a b c d", "b1tch"])  # a spelled-out run before an obfuscated word
@example(["1*x 1*y"])  # spelled out only once the digits are read as letters
def test_the_folding_regexes_change_only_what_they_would_in_the_whole_text(texts: list[str]) -> None:
    for version in (1, 2):
        assert kernel._fold_strings(texts, version) == _fold_regexes_on_whole_texts(texts, version)


@pytest.mark.parametrize(
    ("text", "folded"),
    [("you 1diot", "you idiot"), ("you are 5tupid", "you are stupid"), ("an 4sshole", "an asshole")],
)
def test_leetspeak_at_the_start_of_a_word_folds_whatever_stands_around_it(text: str, folded: str) -> None:
    assert fold_text(text) == folded
    assert fold_text(f"{text} and id10t") == f"{folded} and idiot"
    # Models trained before folding version 2 fold such a word only next to another one.
    assert kernel.fold_text(text, version=1) == text
    assert kernel.fold_text(f"{text} and id10t", version=1) == f"{folded} and idiot"


@parametrize_with_checks(
    [
        LexicalSignals(),
        HashedTextFeatures(bits=12),
        HashedTextFeatures(bits=12, char_windows="chunks"),
        TextFeatures(max_word_features=50, max_char_features=50),
        ContextSignals(),
    ]
)
def test_estimator_contract(estimator, check) -> None:
    check(estimator)


TEXTS = [
    "You are an idiot and a moron",
    "What a lovely day at the park",
    "you idiot, nobody asked you",
    "The council meets on Tuesday",
    "Such a pathetic loser",
    "Thanks for the link, very helpful",
]


@pytest.mark.parametrize("char_windows", ["text", "chunks"])
def test_linear_scores_equal_the_matrix_product(char_windows: str) -> None:
    features = HashedTextFeatures(bits=16, char_windows=char_windows).fit(TEXTS)
    coef = np.random.default_rng(0).normal(size=(2, features.n_output_features_))
    # Repeated chunks, a chunk of punctuation only, empty and one-letter texts, emoji.
    texts = [*TEXTS, "", "ｉｄｉｏｔ 😂😂😂 !!!", "x", "idiot idiot, idiot!", "a b c d e", " ?! "]
    expected = features.transform(texts) @ coef.T
    prepared = features.prepare_linear(coef)
    assert np.allclose(features.linear_scores(texts, prepared), expected, atol=1e-4)
    with_contributions, _ = features.linear_scores(texts, prepared, contributions=True)
    assert np.allclose(with_contributions, expected, atol=1e-4)


@pytest.mark.parametrize("capacity", [kernel.CHUNK_CACHE_SIZE, 7])
def test_chunks_met_in_an_earlier_batch_give_the_bits_a_fresh_table_gives(capacity: int) -> None:
    # The table keeps the character n-gram sums of every chunk it has scored; a later batch
    # takes them from there. Scores and contributions must be bit for bit those of a table that
    # never saw a batch, also when the keeper empties itself (capacity 7: every batch).
    features = HashedTextFeatures(bits=16, char_windows="chunks").fit(TEXTS)
    coef = np.random.default_rng(2).normal(size=(2, features.n_output_features_))
    later = ["idiot idiot, nobody asked", "What a lovely moron", "Thanks, idiot!", "brand new words here"]
    warm = features.prepare_linear(coef)
    warm.chunk_sums.capacity = capacity
    features.linear_scores(TEXTS, warm)
    scores, explained = features.linear_scores(later, warm, contributions=True)
    fresh = features.prepare_linear(coef)
    fresh_scores, fresh_explained = features.linear_scores(later, fresh, contributions=True)
    assert np.array_equal(scores, fresh_scores)
    assert np.array_equal(explained.word_values, fresh_explained.word_values)
    state = warm.chunk_sums._state
    chunks = {chunk for text in fold_texts(TEXTS + later) for chunk in text.split()}
    if capacity > len(chunks):  # every distinct chunk of both batches is kept, once
        assert state is not None and len(state[0]) == len(chunks)
    else:
        assert state is None or len(state[0]) <= capacity


def test_chunk_sums_added_twice_are_kept_once() -> None:
    # Two threads scoring with one model may both find a chunk missing and both add it.
    kept = kernel.ChunkSums()
    hashes = np.arange(10, 15, dtype=np.uint64)
    sums = np.arange(15.0).reshape(5, 3)
    kept.add(hashes[:3], sums[:3])
    kept.add(hashes[1:], sums[1:])
    rows, table = kept.find(np.r_[hashes, np.uint64(99)])
    assert rows[-1] == -1 and np.array_equal(table[rows[:-1]], sums)


def test_a_batch_scores_the_same_whatever_was_scored_before_and_beyond_the_power_cache(monkeypatch) -> None:
    # The powers behind the word and chunk hashes are kept between batches and grown; a batch
    # longer than the cache computes its own. Neither may change a score.
    from moderation import kernel as module

    features = HashedTextFeatures(bits=16, char_windows="chunks").fit(TEXTS)
    coef = np.random.default_rng(1).normal(size=(2, features.n_output_features_))
    prepared = features.prepare_linear(coef)
    expected = features.transform(TEXTS) @ coef.T
    monkeypatch.setattr(module, "_POWER_CACHE", {})
    long_batch = [" ".join(TEXTS) * 40] * 3 + TEXTS
    features.linear_scores(long_batch, prepared)  # grows the cache past what TEXTS need
    assert np.allclose(features.linear_scores(TEXTS, prepared), expected, atol=1e-4)
    monkeypatch.setattr(module, "_POWER_CACHE", {})
    monkeypatch.setattr(module, "_POWER_CACHE_LIMIT", 64)  # every batch is longer than the cache
    assert np.allclose(features.linear_scores(TEXTS, prepared), expected, atol=1e-4)
    assert module._POWER_CACHE == {}
    monkeypatch.setattr(module, "_POWER_CACHE_LIMIT", 1 << 23)
    for length in (10, 11, 30, 25, 100, 1000, 1500, 3001):  # grown by extension and afresh
        fresh = np.cumprod(np.r_[np.uint64(1), np.full(length - 1, module._PRIME)], dtype=np.uint64)
        assert np.array_equal(module._powers(module._PRIME, length), fresh)


def test_plain_words_leave_out_handles_hashtags_links_and_numbers() -> None:
    from moderation import kernel as module

    texts = ["@insta_trixx you are #so_done, see www.x.com or https://t.co/ab12 in 2024 lol", "@only"]
    codes, starts = module.fold_codepoints(texts)
    tokens = module.tokenize(codes, starts)
    spans = zip(tokens.word_start.tolist(), tokens.word_end.tolist(), strict=True)
    words = [tokens.padded[a:b].tobytes().decode("utf-32-le") for a, b in spans]
    plain = [w for w, keep in zip(words, module.plain_words(tokens), strict=True) if keep]
    assert plain == ["you", "are", "see", "or", "in", "lol"]
    features = HashedTextFeatures(bits=12, min_df=1).fit(["you are so lol", "see it"])
    found = features.linear_pass(texts, features.prepare_linear(np.zeros((2, features.n_output_features_))))
    assert found.n_words.tolist() == [6, 0]
    assert found.known_words[0] >= 4  # you, are, see, lol were seen ("or", "in" may share a column)


def test_lexicon_flags_give_a_word_every_list_it_is_in() -> None:
    from moderation import kernel as module

    table, _ = module._lexicon_table()
    assert np.all(np.diff(table.astype(np.uint64)) > 0)  # sorted, no repeats
    plural = sorted(module.INSULT_PLURALS)[0]
    words = ["you", "idiot", plural, "fuck", "http", "like", "park"]
    got = dict(zip(words, module._lexicon_flags(module.word_hashes(words)).tolist(), strict=True))
    assert got["you"] == module._IS_YOU
    assert got["idiot"] & module._IS_INSULT and got[plural] & module._IS_INSULT_PLURAL
    assert got["fuck"] & module._IS_PROFANE
    assert (got["http"], got["like"], got["park"]) == (module._IS_URL, module._IS_LIKE, 0)
    both = sorted(module.INSULT_WORDS & module.PROFANITY)
    if both:  # a word in two lists carries both flags
        flag = int(module._lexicon_flags(module.word_hashes(both[:1]))[0])
        assert flag & module._IS_INSULT and flag & module._IS_PROFANE


def test_chunk_windows_never_cross_a_space() -> None:
    # With char_windows="chunks" the character n-grams of "ab cd" are those of "ab" and of
    # "cd": the only column the pair adds is its word bigram.
    features = HashedTextFeatures(bits=20, char_windows="chunks", min_df=1).fit(["ab cd", "ab", "cd"])
    X = features.transform(["ab cd", "ab", "cd"]).tocsr()
    hashed = features.n_hashed_

    def columns(row: int) -> set[int]:
        return {int(c) for c in X[row].indices if c < hashed}

    added = columns(0) - columns(1) - columns(2)
    assert added == {column for _, column in features.phrase_columns(["ab", "cd"])}
    whole = HashedTextFeatures(bits=20, min_df=1).fit(["ab cd", "ab", "cd"]).transform(["ab cd"]).tocsr()
    assert len({int(c) for c in whole.indices if c < hashed}) > len(columns(0))  # "b c", " cd" ...


@pytest.mark.parametrize("char_windows", ["text", "chunks"])
def test_contributions_credit_the_word_that_carries_the_weight(char_windows: str) -> None:
    features = HashedTextFeatures(bits=16, char_windows=char_windows).fit(TEXTS)
    coef = np.zeros((1, features.n_output_features_))
    for column in features.token_feature_indices("idiot"):
        coef[0, column] = 1.0
    scores, explained = features.linear_scores(
        ["well you are an id10t"], features.prepare_linear(coef), contributions=True
    )
    words = [explained.folded[s:e] for s, e in zip(explained.word_start, explained.word_end, strict=True)]
    assert words == ["well", "you", "are", "an", "idiot"]
    assert int(np.argmax(explained.word_values[:, 0])) == words.index("idiot")
    assert explained.word_values[:, 0].sum() == pytest.approx(scores[0, 0], rel=0.05)


def test_hashed_features_are_deterministic_and_keep_rows() -> None:
    features = HashedTextFeatures(bits=14).fit(TEXTS)
    first = features.transform(TEXTS).toarray()
    again = HashedTextFeatures(bits=14).fit(TEXTS).transform(TEXTS).toarray()
    assert first.shape == (len(TEXTS), 2**14 + len(lexical_feature_names()))
    assert np.array_equal(first, again)


def test_lexical_signals_see_targeting_caps_and_punctuation() -> None:
    features = HashedTextFeatures(bits=12).fit(TEXTS)
    X = features.transform(["YOU ARE AN IDIOT!!!", "we went to the park"]).toarray()[
        :, -len(lexical_feature_names()) :
    ]
    named = dict(zip(lexical_feature_names(), X.T, strict=True))
    for signal in (
        "second_person",
        "targeted_insult",
        "insult_words",
        "caps_ratio",
        "repeated_punct",
        "exclamations",
    ):
        assert named[signal][0] > 0 and named[signal][1] == 0, signal


def _thread() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comment_id": ["p", "a1", "b1", "a2", "c1", "a3"],
            "thread_id": ["t"] * 6,
            "parent_id": ["", "p", "a1", "b1", "a1", ""],
            "author": ["host", "ann", "bob", "ann", "cat", "ann"],
            "depth": [0, 1, 2, 3, 2, 0],
            "thread_title": ["Council budget vote"] * 6,
            "text": [
                "The council budget vote is on Tuesday",
                "Everyone here is a sheep, wake up",
                "Stop it, you are just a troll",
                "Says the paid shill",
                "Don't feed the troll",
                "Everyone here is a sheep, wake up",
            ],
        }
    )


def test_context_signals_read_the_thread() -> None:
    frame = _thread()
    hostility = np.asarray([0.0, 0.2, 0.6, 0.8, 0.1, 0.2])
    context = pd.DataFrame(
        context_matrix(frame, hostility), columns=CONTEXT_FEATURES, index=frame["comment_id"]
    )
    assert context.loc["a1", "called_troll"] > 0  # two replies call ann a troll
    assert context.loc["p", "called_troll"] == 0
    assert context.loc["a2", "hostility_to_parent"] == pytest.approx(0.8)
    assert context.loc["a2", "parent_hostility"] == pytest.approx(0.6)
    assert context.loc["a1", "author_share"] == pytest.approx((3 - 1) / (6 - 1))  # 2 beyond the first
    assert context.loc["a2", "author_exchanges"] > 0  # ann answers bob, who answered ann
    assert context.loc["a3", "repetition"] > 0
    first = pd.DataFrame(context_matrix(frame, hostility, version=1), columns=CONTEXT_FEATURES)
    assert first.loc[1, "title_distance"] > first.loc[0, "title_distance"]  # as up to 2026.12-v4


def test_context_signals_fold_replies_as_their_version_says() -> None:
    frame = pd.DataFrame(
        {
            "comment_id": ["p", "r"],
            "thread_id": ["t", "t"],
            "parent_id": ["", "p"],
            "author": ["ann", "bob"],
            "text": ["Taxes should be lower", "you are a paid 5hill"],
        }
    )

    def called(version: int) -> float:
        return context_matrix(frame, version=version)[0, CONTEXT_FEATURES.index("called_troll")]

    assert called(3) > 0  # "5hill" folds to "shill" on its own
    assert called(2) == 0  # as the models trained before folding version 2 read it


def _ordinary_thread() -> pd.DataFrame:
    # Four readers answer a post once each, all about its subject in their own words.
    return pd.DataFrame(
        {
            "comment_id": ["p", "a", "b", "c", "d"],
            "thread_id": ["t"] * 5,
            "parent_id": ["", "p", "p", "a", "p"],
            "author": ["host", "ann", "bob", "cat", "dan"],
            "depth": [0, 1, 1, 2, 1],
            "thread_title": ["New cycle lanes on the high street"] * 5,
            "text": [
                "The council opens the new cycle lanes on the high street next week",
                "Good news, I cycle there every day and the traffic scares me",
                "Will the buses still stop on the high street?",
                "I hope so, the lanes and the buses both",
                "About time, the old lanes on the street were full of potholes",
            ],
        }
    )


def test_an_ordinary_thread_gives_ordinary_comments_no_context_signal() -> None:
    frame = _ordinary_thread()
    context = pd.DataFrame(context_matrix(frame), columns=CONTEXT_FEATURES, index=frame["comment_id"])
    assert (context["author_share"] == 0).all()
    # At most half the comments stray further from the title than the thread's median one.
    assert (context["title_distance"] > 0).sum() <= 2
    # The signals as models up to 2026.12-v4 read them: every comment a share and a distance.
    first = pd.DataFrame(context_matrix(frame, version=1), columns=CONTEXT_FEATURES)
    assert np.allclose(first["author_share"], 1 / 5)
    assert (first["title_distance"] > 0.3).sum() >= 3


def test_a_dominating_author_and_an_off_topic_comment_still_register() -> None:
    frame = _ordinary_thread()
    extra = pd.DataFrame(
        {
            "comment_id": ["e1", "e2", "e3"],
            "thread_id": ["t"] * 3,
            "parent_id": ["b", "c", "d"],
            "author": ["eve"] * 3,
            "depth": [2, 3, 2],
            "thread_title": [frame.loc[0, "thread_title"]] * 3,
            "text": [
                "Buy cheap watches at my shop, best prices in town",
                "Cheap watches, visit my shop today",
                "Lanes on the street, nice",
            ],
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    context = pd.DataFrame(context_matrix(frame), columns=CONTEXT_FEATURES, index=frame["comment_id"])
    assert context.loc["e1", "author_share"] > 0 == context.loc["b", "author_share"]
    assert context.loc["e1", "title_distance"] > context.loc["b", "title_distance"]


def test_context_is_neutral_without_thread_information() -> None:
    frame = pd.DataFrame({"text": ["you are a troll", "hello"]})
    assert not context_matrix(frame).any()
    lone = pd.DataFrame({"text": ["hi"], "thread_id": ["t"], "comment_id": ["1"]})
    assert not context_matrix(lone).any()


def test_name_calling_before_like_you_is_aimed_and_plurals_are_demeaning() -> None:
    features = HashedTextFeatures(bits=12).fit(TEXTS)
    texts = [
        "Don't forget sociopaths like yourself",
        "idiots like you",
        "people like you",
        "sociopaths exist",
    ]
    X = features.transform(texts).toarray()[:, -len(lexical_feature_names()) :]
    named = dict(zip(lexical_feature_names(), X.T, strict=True))
    assert named["targeted_insult"][0] > 0 and named["targeted_insult"][1] > 0
    assert named["targeted_insult"][2] == 0 and named["targeted_insult"][3] == 0
    assert named["insult_words"][3] > 0  # "sociopaths", the plural of a lexicon word


def _table_leanings() -> dict[str, np.ndarray]:
    """The shipped word-semantics table read the plain way: word -> (insult, troll)."""
    name, _ = kernel.SEMANTIC_TABLES[3]
    with np.load(Path(kernel.__file__).with_name(name)) as stored:
        words = stored["words"].tobytes().decode("utf-8").split("\n")
        return dict(zip(words, stored["scores"].astype(np.float64), strict=True))


def test_semantic_signals_are_the_mean_leaning_of_the_known_words() -> None:
    leanings = _table_leanings()
    texts = [
        "You are an IMBECILE, a total nincompoop",
        "what a lovely teacup, thanks for the photo",
        "zqxv blorptak",  # no word the table knows
        "",
        "I d1ot  ...  id10t",
    ]
    features = HashedTextFeatures(bits=12, lexicon_version=3).fit(TEXTS)
    X = features.transform(texts).toarray()[:, -len(kernel.SEMANTIC_FEATURES) :]
    for text, row in zip(texts, X, strict=True):
        known = [leanings[w] for w in re.findall(r"[0-9a-z']+", fold_text(text)) if w in leanings]
        expected = np.mean(known, axis=0) if known else np.zeros(2)
        assert row == pytest.approx(expected, abs=1e-5), text
    # Meaning reaches words no corpus labelled often: name-calling leans toward an insult.
    insult = dict(zip(texts, X[:, 0], strict=True))
    assert insult[texts[0]] > insult[texts[1]] + 1.0
    assert leanings["nincompoop"][0] > leanings["teacup"][0]
    # Versions 1 and 2 have no semantic columns.
    assert HashedTextFeatures(bits=12, lexicon_version=2).fit(TEXTS).transform(texts).shape[1] == 2**12 + 11


def test_semantic_credit_goes_to_the_words_and_the_sum_is_kept() -> None:
    texts = ["what a nincompoop and a buffoon", "lovely teacup"]
    features = HashedTextFeatures(bits=12, lexicon_version=3).fit(TEXTS)
    n_lexical = len(kernel.lexical_feature_names(3))
    coef = np.zeros((1, features.n_output_features_))
    coef[0, -n_lexical + len(kernel.HASHED_LEXICAL_FEATURES)] = 1.0  # semantic_insult alone
    prepared = features.prepare_linear(coef)
    scores, explained = features.linear_scores(texts, prepared, contributions=True)
    assert scores[:, 0] == pytest.approx(features.transform(texts).toarray() @ coef[0], abs=1e-5)
    assert not explained.lexical_values.any()  # nothing left on the signal itself
    for doc in (0, 1):
        mine = explained.word_doc == doc
        assert explained.word_values[mine, 0].sum() == pytest.approx(scores[doc, 0], abs=1e-5)
    # Each known word is credited with its own leaning, over the number of known words.
    leanings = _table_leanings()
    words = [explained.folded[s:e] for s, e in zip(explained.word_start, explained.word_end, strict=True)]
    for doc in (0, 1):
        mine = [w for w, d in zip(words, explained.word_doc, strict=True) if d == doc]
        known = [w for w in mine if w in leanings]
        expected = [leanings[w][0] / len(known) if w in leanings else 0.0 for w in mine]
        assert explained.word_values[explained.word_doc == doc, 0] == pytest.approx(expected, abs=1e-5)


def test_a_word_semantics_table_that_is_not_the_pinned_one_is_refused(monkeypatch, tmp_path) -> None:
    from moderation.errors import ModelError

    name, _ = kernel.SEMANTIC_TABLES[3]
    monkeypatch.setitem(kernel.SEMANTIC_TABLES, 3, (name, "0" * 64))
    caches = (kernel._semantic_table, kernel._word_table)  # the table as read, and with the lexicon
    for cache in caches:
        cache.cache_clear()
    try:
        with pytest.raises(ModelError, match="not the one lexicon version 3") as raised:
            HashedTextFeatures(bits=12, lexicon_version=3).fit(TEXTS).transform(["you are a fool"])
        assert "git checkout" in raised.value.hint
    finally:
        for cache in caches:
            cache.cache_clear()


def test_the_shipped_semantic_table_gives_no_identity_word_a_leaning() -> None:
    from moderation.audit import IDENTITY_TERMS as AUDIT_TERMS
    from moderation.lexicon import IDENTITY_TERMS

    leanings = _table_leanings()
    terms = [*IDENTITY_TERMS, *(term for group in AUDIT_TERMS.values() for term in group)]
    words = {w for term in terms for w in re.findall(r"[0-9a-z']+", fold_text(term))}
    assert {"gay", "muslim", "black", "jewish"} <= words
    leaning = sorted(w for w in words | {w + "s" for w in words} if w in leanings)
    assert leaning == [], f"identity words with a leaning of their own: {leaning}"
    assert len(leanings) > 100_000 and {"idiot", "nincompoop", "teacup"} <= set(leanings)
