"""The featurisers' numpy core: folding, hashed n-grams, lexical and context signals, and the
linear scoring pass over them.

``moderation.features`` wraps this in scikit-learn estimators for training; scoring needs only
what is here, and this module imports neither scikit-learn nor scipy, so that a scoring run
(``moderation score``) starts without paying for them (``registry.load_model(for_scoring=True)``
loads a model whose parts are the scoring-only classes below).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation.lexicon import (
    INSULT_PLURALS,
    INSULT_WORDS,
    LEET_MAP,
    PROFANITY,
    TROLL_ACCUSATIONS,
)

# --- obfuscation folding ---------------------------------------------------------------------

# Look-alike letters from other scripts that NFKC leaves alone (Cyrillic, Greek, IPA, symbols).
_HOMOGLYPH_MAP = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h", "ԁ": "d", "ɡ": "g", "ı": "i",
    "ӏ": "l", "ո": "n", "ս": "u", "ք": "q", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "η": "n",
    "ɑ": "a", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th", "ł": "l",
    "€": "e", "£": "l", "¢": "c", "¡": "i",
}  # fmt: skip
# A regex with a callback is far faster than str.translate with a dict on long strings, and
# homoglyphs are rare, so the callback runs seldom.
_HOMOGLYPH = re.compile("[" + "".join(_HOMOGLYPH_MAP) + "]")

# Characters that hide inside words without being seen (normalize_text removes most already;
# folding must hold on text that did not come through a reader too).
_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SYMBOLS = "@$!|+*#%"
# Words obfuscated with symbols inside ("sh!t", "f*ck", "a**hole", "b|tch"), with a leading
# "$" or "@" ("$hit", "@ss"), or mixing digits into letters ("id10t", "b1tch"). Trailing "!"
# ("idiot!") and mentions/hashtags ("@user", "#maga") are not obfuscation.
_OBFUSCATED = re.compile(
    r"(?<![\w@$!|+*#%])[a-z0-9]+(?:[@$!|+*#%]+[a-z0-9]+)+"
    r"|(?<![\w@$])[$@](?:ss|hit|sshole)[a-z]*"
    r"|\b(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[0-9])[a-z0-9]+\b"
)
_NUMBERISH = re.compile(r"^\d+(?:st|nd|rd|th|s|k|m|km|kg|am|pm|x|yo|g|mm|cm|h|d|p|v|gb|mb|hz|ft|lb|lbs)?$")
# Letters then digits are names and versions ("mp3", "covid19", "g20"), not leetspeak.
_VERSIONISH = re.compile(r"^[a-z]+\d+$")
_LEET_TABLE = str.maketrans(LEET_MAP)
# Letters spelled out one by one: "i d i o t", "i.d.i.o.t", "f-u-c-k", "s_t_u_p_i_d".
_SPACED = re.compile(
    r"(?<![a-z0-9])[a-z](?:[.\-_*·][a-z](?![a-z0-9])){2,}"
    r"|(?<![a-z0-9])[a-z](?:(?:[ ]|[ ]?[.\-_*·][ ]?)[a-z](?![a-z0-9])){3,}"
)
# Shortest first, then alphabetical: a set's order changes with PYTHONHASHSEED, so sorting by length
# alone let "s**t" unmask to "shit" in one process and "slut" in another.
_MASKABLE = sorted(PROFANITY | INSULT_WORDS, key=lambda word: (len(word), word))


def _unmask(core: str) -> str:
    # "f*ck", "sh*t", "a**hole": the masked word is the lexicon word that fits the mask.
    pattern = re.compile("^" + "".join("." if c in "*#%" else re.escape(c) for c in core) + "$")
    for word in _MASKABLE:
        if len(word) == len(core) and pattern.match(word):
            return word
    return core


def _fold_token(match: re.Match) -> str:
    token = match.group(0)
    if _NUMBERISH.match(token) or _VERSIONISH.match(token) or not any("a" <= c <= "z" for c in token):
        return token
    if any(c in "*#%" for c in token):
        token = _unmask(token)
    return token.translate(_LEET_TABLE)


def _join_spaced(match: re.Match) -> str:
    return re.sub(r"[^a-z]", "", match.group(0))


def _homoglyph(match: re.Match) -> str:
    return _HOMOGLYPH_MAP[match.group(0)]


def _fold_unicode(text: str) -> str:
    # Fullwidth and styled letters become plain (NFKC); accents and invisible characters go.
    text = unicodedata.normalize("NFKD", text)
    text = _COMBINING.sub("", _INVISIBLE.sub("", text))
    return unicodedata.normalize("NFKC", text)


# Unicode whitespace that becomes a plain space, and the letters whose long runs are cut.
_SPACE_CODES = np.asarray(
    [9, 10, 11, 12, 13, 0x1C, 0x1D, 0x1E, 0x1F, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
     0x202F, 0x205F, 0x3000],
    dtype=np.uint32,
)  # fmt: skip
_LETTER_TABLE = np.asarray([chr(c).isalpha() for c in range(0x10000)], dtype=bool)
_WORD_TABLE = np.asarray([chr(c).isalnum() or c in (0x27, 0x2019) for c in range(0x10000)], dtype=bool)


# One class table for the code points (bit flags), so each array pass does one gather.
_C_SPACE, _C_LOWER, _C_DIGIT, _C_INNER, _C_SEP, _C_LETTER = 1, 2, 4, 8, 16, 32
_CLASSES = np.zeros(0x10001, dtype=np.uint8)  # the last entry stands for every non-BMP character
_CLASSES[_SPACE_CODES] |= _C_SPACE
_CLASSES[32] |= _C_SPACE
_CLASSES[ord("a") : ord("z") + 1] |= _C_LOWER
_CLASSES[ord("0") : ord("9") + 1] |= _C_DIGIT
_CLASSES[[ord(c) for c in _SYMBOLS]] |= _C_INNER  # obfuscation between letters: "sh!t", "b|tch"
_CLASSES[[ord(c) for c in " .-_*·"]] |= _C_SEP  # letters spelled out: "i.d.i.o.t", "f-u-c-k"
_CLASSES[:0x10000][_LETTER_TABLE] |= _C_LETTER
_CLASSES[0x10000] = _C_LETTER  # emoji runs count as elongation too
# Every character a match of _OBFUSCATED or _SPACED can hold (see _regex_regions).
_C_MATCHABLE = 64
_CLASSES[[ord(c) for c in "abcdefghijklmnopqrstuvwxyz0123456789" + _SYMBOLS + " .-_*·"]] |= _C_MATCHABLE


def _classes(codes: np.ndarray) -> np.ndarray:
    return _CLASSES[np.minimum(codes, 0x10000)]


def _shift(mask: np.ndarray, by: int) -> np.ndarray:
    """``mask`` moved so that out[i] = mask[i + by] (False past the ends)."""
    out = np.zeros_like(mask)
    if by > 0:
        out[:-by] = mask[by:]
    elif by < 0:
        out[-by:] = mask[:by]
    else:
        out[:] = mask
    return out


def _needs_regex(codes: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Positions where obfuscation may start: most comments have none and skip the regexes."""
    classes = _classes(codes) if classes is None else classes
    lower = (classes & _C_LOWER).astype(bool)
    digit = (classes & _C_DIGIT).astype(bool)
    inner = (classes & _C_INNER).astype(bool)
    sep = (classes & _C_SEP).astype(bool)
    wordish = lower | digit
    # A symbol or digit inside a word: letter on one side, word character on the other.
    masked = (inner | digit) & (
        (_shift(lower, -1) & _shift(wordish | inner, 1)) | (_shift(lower, 1) & _shift(wordish, -1))
    )
    dollar = codes == ord("$")
    at_ss = (codes == ord("@")) & (_shift(codes == ord("s"), 1)) & (_shift(codes == ord("s"), 2))
    leading = (dollar | at_ss) & _shift(lower, 1) & ~_shift(wordish, -1)
    # Single letters separated by spaces or dots, three in a row.
    alone = lower & ~_shift(wordish, -1) & ~_shift(wordish, 1)
    spelled = alone & _shift(sep, 1) & _shift(alone, 2) & _shift(sep, 3) & _shift(alone, 4)
    return masked | leading | spelled


def _regex_regions(
    codes: np.ndarray, classes: np.ndarray, flagged: np.ndarray | None, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of the stretches of the flagged texts (None: of every text) that the
    folding regexes can change.

    Exact, not a heuristic: outside these stretches the regexes change nothing, and inside them
    they see what they would see in the whole text.
    - A match of either regex holds only _C_MATCHABLE characters, and its lookarounds look one
      character past its ends: it lies inside one maximal run of such characters, and a run can
      go through the regexes alone, with the character on either side.
    - Every _OBFUSCATED match has no space, and either both a digit and a letter, or one of
      _SYMBOLS followed by a letter or digit with a letter, digit or symbol before it, or a "$"
      or "@" followed by "s" or "h"; it changes neither a letter nor a digit into anything else.
    - Every _SPACED match (read after _OBFUSCATED) has three letters standing alone with at
      most three characters between each. Such a letter was a letter, a digit or a symbol
      standing alone before _OBFUSCATED ran, so a run with no three of those can only change
      where _OBFUSCATED matches: in its space-free pieces that have one of those.
    So a run with three such characters goes whole; otherwise only those pieces go.
    """
    lower = (classes & _C_LOWER).astype(bool)
    wordish = lower | (classes & _C_DIGIT).astype(bool)
    trigger = (classes & (_C_DIGIT | _C_INNER)).astype(bool)
    alone = np.flatnonzero((lower | trigger) & ~_shift(wordish, -1) & ~_shift(wordish, 1))
    spelled = alone[:-2][(alone[1:-1] - alone[:-2] <= 4) & (alone[2:] - alone[1:-1] <= 4)]
    in_flagged = None
    if flagged is not None:
        in_flagged = np.zeros(len(starts), dtype=bool)
        in_flagged[flagged] = True

    def flagged_only(positions: np.ndarray) -> np.ndarray:
        if in_flagged is None:
            return positions
        return positions[in_flagged[np.searchsorted(starts, positions, side="right") - 1]]

    # Run k of the matchable characters lies between the (k-1)-th and the k-th other character.
    unmatchable = ~(classes & _C_MATCHABLE).astype(bool)
    edges = np.flatnonzero(unmatchable)
    bounds = np.r_[-1, edges, len(codes)]
    whole = np.unique(np.searchsorted(edges, flagged_only(spelled)))
    triggers = flagged_only(np.flatnonzero(trigger))
    triggers = triggers[~np.isin(np.searchsorted(edges, triggers), whole)]
    # The same for the space-free pieces of the other runs; a piece of digits alone (a year,
    # a price) holds no match.
    piece_edges = np.flatnonzero(unmatchable | (codes == 32))
    piece_bounds = np.r_[-1, piece_edges, len(codes)]
    trigger_pieces = np.searchsorted(piece_edges, triggers)
    # Pieces with a digit and a letter ...
    with_digit = np.unique(trigger_pieces[(classes[triggers] & _C_DIGIT) > 0])
    # (read on those pieces alone, which hold a digit each and so are never empty)
    piece_starts = piece_bounds[with_digit] + 1
    piece_lengths = piece_bounds[with_digit + 1] - piece_starts
    with_letter = np.zeros(0, dtype=bool)
    if len(with_digit):
        in_pieces = lower[_span_positions(piece_starts, piece_lengths)]
        with_letter = np.logical_or.reduceat(in_pieces, np.cumsum(piece_lengths) - piece_lengths)
    # ... and pieces with a symbol inside a word, or "$" or "@" before "s" or "h".
    # Both tests read a trigger's neighbours only, so they run on the triggers alone.
    inner = (classes & _C_INNER).astype(bool)
    has_before, has_after = triggers > 0, triggers + 1 < len(codes)
    before = np.where(has_before, triggers - 1, 0)
    after = np.where(has_after, triggers + 1, 0)
    wordish_after = wordish[after] & has_after
    masking = inner[triggers] & wordish_after & ((wordish[before] | inner[before]) & has_before)
    trigger_codes, next_codes = codes[triggers], np.where(has_after, codes[after], 0)
    leading = ((trigger_codes == ord("$")) | (trigger_codes == ord("@"))) & (
        (next_codes == ord("s")) | (next_codes == ord("h"))
    )
    pieces = np.union1d(with_digit[with_letter], trigger_pieces[masking | leading])
    run_starts = np.r_[bounds[whole] + 1, piece_bounds[pieces] + 1]
    run_ends = np.r_[bounds[whole + 1], piece_bounds[pieces + 1]]
    order = np.argsort(run_starts, kind="stable")
    return run_starts[order], run_ends[order]


#: The folding new models are trained with. 1: as until 2026.12-v5: the obfuscation regexes
#: read only the texts in which a numpy pre-filter (``_needs_regex``) saw obfuscation, and it
#: misses leetspeak at the start of a word, so "you 1diot" or "5tupid" folded only when something
#: else in the same text was caught. 2: they read every text, so a word folds the same whatever
#: stands around it. A model keeps the version it was trained with.
FOLD_VERSION = 2


def _fold_regexes(text: str) -> str:
    return _SPACED.sub(_join_spaced, _OBFUSCATED.sub(_fold_token, text))


def _fold_strings(texts: list[str], version: int = FOLD_VERSION) -> str:
    """The string stage of folding, on all texts joined by NUL (one C pass per step)."""
    if any(not t.isascii() for t in texts):
        texts = list(texts)
        wide = [i for i, t in enumerate(texts) if not t.isascii()]
        folded = _HOMOGLYPH.sub(_homoglyph, _fold_unicode("\x00".join(texts[i] for i in wide)).lower())
        for i, text in zip(wide, folded.split("\x00"), strict=True):
            texts[i] = text
    joined = "\x00".join(texts).lower()
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    classes = _classes(codes)
    starts = np.r_[0, np.flatnonzero(codes == 0) + 1]
    flagged = None  # version 2: every text
    if version < 2:
        flagged_positions = np.flatnonzero(_needs_regex(codes, classes))
        if len(flagged_positions) == 0:
            return joined
        flagged = np.unique(np.searchsorted(starts, flagged_positions, side="right") - 1)
    # Only the runs of the flagged texts that the regexes can change go through them, each
    # with the character on either side for the lookarounds. Where that character is a NUL
    # (the run starts or ends its text) the NUL joining the runs stands in for it.
    run_starts, run_ends = _regex_regions(codes, classes, flagged, starts)
    if len(run_starts) == 0:
        return joined
    padded = np.r_[0, codes, 0]  # padded[i + 1] is codes[i]; 0 past either end
    left = (run_starts - (padded[run_starts] != 0)).tolist()
    right = (run_ends + (padded[run_ends + 1] != 0)).tolist()
    folded = _fold_regexes("\x00".join([joined[a:b] for a, b in zip(left, right, strict=True)]))
    out, done = [], 0
    for a, b, lo, hi, piece in zip(
        run_starts.tolist(), run_ends.tolist(), left, right, folded.split("\x00"), strict=True
    ):
        out.append(joined[done:a])
        out.append(piece[a - lo : len(piece) - (hi - b)])
        done = b
    out.append(joined[done:])
    return "".join(out)


def fold_codepoints(
    texts: Iterable[object], *, version: int = FOLD_VERSION
) -> tuple[np.ndarray, np.ndarray]:
    """Folded texts as one array of code points, texts separated by 0, and each text's start.

    The array stage does what regular expressions do slowly on long strings: whitespace
    becomes one space, runs of three or more of one letter become one ("stuuupid"), and the
    spaces at the ends of every text go. ``version``: see ``FOLD_VERSION``.
    """
    cleaned = [t if type(t) is str else _as_str(t) for t in texts]
    if "\x00" in "".join(cleaned):
        cleaned = [t.replace("\x00", "") for t in cleaned]
    if not cleaned:
        return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
    codes = np.frombuffer(_fold_strings(cleaned, version).encode("utf-32-le"), dtype=np.uint32).copy()
    classes = _classes(codes)
    codes[(classes & _C_SPACE).astype(bool)] = 32
    # Elongation: inside a run of >= 3 equal letters keep only the first.
    if len(codes) > 2:
        same = np.r_[False, codes[1:] == codes[:-1]]
        long_run = same & (_shift(same, 1) | _shift(same, -1))
        codes = codes[~(long_run & (classes & _C_LETTER).astype(bool))]
    # Whitespace: no space after a space or a separator, none before a separator or the end.
    space = codes == 32
    boundary = space | (codes == 0)
    previous = np.r_[True, boundary[:-1]]
    following = np.r_[codes[1:] == 0, True]
    codes = codes[~(space & (previous | following))]
    starts = np.r_[0, np.flatnonzero(codes == 0) + 1].astype(np.int64)
    return codes, starts


def fold_texts(texts: Iterable[object], *, version: int = FOLD_VERSION) -> list[str]:
    """``fold_text`` over many texts at once; missing values become the empty string.

    All texts go through every step together (joined by NUL, which no step crosses), so the
    work runs in C and numpy rather than once per comment in Python.
    """
    texts = list(texts)
    if not texts:
        return []
    codes, _ = fold_codepoints(texts, version=version)
    return codes.tobytes().decode("utf-32-le").split("\x00")


def fold_text(text: str, *, version: int = FOLD_VERSION) -> str:
    """Return ``text`` with obfuscation undone, for feature extraction only.

    Steps: NFKC (fullwidth and styled letters become plain), lower case, Latin diacritics and
    combining marks dropped, homoglyphs mapped to Latin, zero-width characters removed,
    letters spelled out one by one joined ("i d i o t" -> "idiot"), masked profanity filled in
    ("f*ck" -> "fuck"), leetspeak read inside words ("id10t" -> "idiot"), runs of three or
    more of one letter cut to one ("stuuupid" -> "stupid"), and whitespace collapsed. NFC and
    NFD inputs fold to the same string. ``version``: see ``FOLD_VERSION``.
    """
    return fold_texts([text], version=version)[0] if text else ""


def _as_str(value: object) -> str:
    return value if isinstance(value, str) else ""



# --- hashed n-grams: the fast featuriser ----------------------------------------------------------

_PRIME = np.uint64(0x100000001B3)
_PRIME_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_MIX_A = np.uint64(0xFF51AFD7ED558CCD)
_MIX_B = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT_33 = np.uint64(33)
_WORD_CODE_TABLE = np.r_[_WORD_TABLE, True]  # beyond the BMP (emoji) counts as a word character
_SALT_WORD = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0x7F4A7C159E3779B9), np.uint64(0x94D049BB133111EB))
_SALT_CHAR = np.uint64(0xBF58476D1CE4E5B9)
_NUMERIC_PUNCT = np.zeros(0x10001, dtype=bool)
_NUMERIC_PUNCT[[ord("!"), ord("?")]] = True
_UPPER_TABLE = np.r_[np.asarray([chr(c).isupper() for c in range(0x10000)], dtype=bool), False]
_ALPHA_TABLE = np.r_[_LETTER_TABLE, False]


def _mix(h: np.ndarray) -> np.ndarray:
    # murmur3's 64-bit finaliser: spreads every input bit over the bucket bits.
    h = h ^ (h >> _SHIFT_33)
    h = h * _MIX_A
    h = h ^ (h >> _SHIFT_33)
    h = h * _MIX_B
    return h ^ (h >> _SHIFT_33)


#: Batches up to this many positions share one table of powers per base, kept between batches
#: (64 MB each at most); a longer batch computes its own.
_POWER_CACHE_LIMIT = 1 << 23
_POWER_CACHE: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, length: int) -> np.ndarray:
    """``base ** i`` (mod 2**64) for i < ``length``: the same for every batch, so computed once
    and extended when a longer batch comes (by an eighth more than it needs)."""
    cached = _POWER_CACHE.get(int(base))
    if cached is not None and len(cached) >= length:
        return cached[:length]
    size = length + length // 8
    if size > _POWER_CACHE_LIMIT:
        size = length
    if cached is None or size > 2 * len(cached):
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        np.cumprod(out, dtype=np.uint64, out=out)
    else:  # base ** (n + i) = base ** n * base ** i: extend with a product, no new cumprod
        step = cached[-1:] * base  # an array: numpy wraps array products mod 2**64 silently
        out = np.concatenate([cached, cached[: size - len(cached)] * step])
    if size <= _POWER_CACHE_LIMIT:
        _POWER_CACHE[int(base)] = out  # one assignment: a thread never sees a half-built table
    return out[:length]


@dataclass(frozen=True)
class Tokens:
    """Where the words and n-grams of a batch of folded texts are (one array for the batch)."""

    padded: np.ndarray  # code points, each text as " text ", texts separated by 0
    doc_of_position: np.ndarray  # text index of each position of ``padded``
    word_start: np.ndarray  # positions in ``padded``
    word_end: np.ndarray
    word_doc: np.ndarray
    word_hash: np.ndarray  # uint64 hash of each word's characters
    n_docs: int
    prefix: np.ndarray  # prefix sums of code point * P^position, for ``span_hash``

    def span_hash(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The hash of ``padded[start:end]`` for each pair: equal spans hash equal anywhere."""
        return _span_hash(self.prefix, start, end)

    @functools.cached_property
    def chunks(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end in ``padded`` of every space-separated chunk (computed once a batch)."""
        inside = (self.padded != 32) & (self.padded != 0)
        edges = np.diff(np.r_[False, inside, False].astype(np.int8))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)

    @functools.cached_property
    def chunk_of_word(self) -> np.ndarray:
        """The index in ``chunks`` of the chunk each word is in."""
        return np.searchsorted(self.chunks[0], self.word_start, side="right") - 1


def _separators_before(codes: np.ndarray) -> np.ndarray:
    """For each position, how many 0s lie strictly before it: the text it is in, when texts are
    separated (or each ended) by a 0. Equal to ``np.cumsum(codes == 0) - (codes == 0)``, and
    about three times faster: one repeat over the texts' lengths."""
    separators = np.flatnonzero(codes == 0)
    lengths = np.diff(np.r_[-1, separators, len(codes) - 1])
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


def _span_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every position of the spans ``[start, start + length)``, span after span."""
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


def _span_hash(prefix: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    # Polynomial hash of every span from prefix sums: (H[end] - H[start]) * P^-start.
    return (prefix[end] - prefix[start]) * _powers(_PRIME_INVERSE, len(prefix))[start]


def tokenize(codes: np.ndarray, starts: np.ndarray) -> Tokens:
    """Pad every folded text with a space at each end and find its words, all vectorised."""
    n_docs = len(starts)
    separator = codes == 0
    before = _separators_before(codes)
    # Position i goes to i + 2 * (texts before it) + 1, and a separator one further.
    target = before * 2
    target += np.arange(1, len(codes) + 1)
    target += separator
    padded = np.full(len(codes) + 2 * n_docs, 32, dtype=np.uint32)
    padded[target] = codes
    doc_of_position = _separators_before(padded)
    is_word = _WORD_CODE_TABLE.take(padded, mode="clip")  # the last entry: beyond the BMP; NUL is not
    edges = np.diff(np.r_[False, is_word, False].astype(np.int8))
    word_start = np.flatnonzero(edges == 1)
    word_end = np.flatnonzero(edges == -1)
    prefix = np.empty(len(padded) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.multiply(padded, _powers(_PRIME, len(padded)), out=prefix[1:])
    np.cumsum(prefix[1:], out=prefix[1:])
    word_hash = _span_hash(prefix, word_start, word_end)
    return Tokens(
        padded, doc_of_position, word_start, word_end, doc_of_position[word_start], word_hash, n_docs, prefix
    )


def plain_words(tokens: Tokens) -> np.ndarray:
    """Which words are prose: not part of an @mention, #hashtag or link, and not a number.

    A mention, hashtag or link is the whole space-separated chunk of the folded text that holds
    an "@" or "#", or "://", or starts with "www.": "@insta_trixx" is two words of a handle, not
    two unknown words.
    """
    padded = tokens.padded
    chunk_start = tokens.chunks[0]
    plain = np.ones(len(tokens.word_start), dtype=bool)
    if not len(chunk_start) or not len(plain):
        return plain
    marked = (padded == ord("@")) | (padded == ord("#"))
    marked[:-2] |= (padded[:-2] == ord(":")) & (padded[1:-1] == ord("/")) & (padded[2:] == ord("/"))
    # "www." is "w." once folded (runs of three letters are cut to one).
    www = chunk_start[chunk_start + 1 < len(padded)]
    marked[www[(padded[www] == ord("w")) & (padded[www + 1] == ord("."))]] = True
    chunk_marked = np.zeros(len(chunk_start), dtype=bool)
    chunk_marked[np.searchsorted(chunk_start, np.flatnonzero(marked), side="right") - 1] = True
    plain &= ~chunk_marked[tokens.chunk_of_word]
    # A number: a word of digits only. It starts with a digit, which few words do.
    digit = (padded >= ord("0")) & (padded <= ord("9"))
    numbers = np.flatnonzero(digit[tokens.word_start])
    if len(numbers):
        starts, lengths = tokens.word_start[numbers], tokens.word_end[numbers] - tokens.word_start[numbers]
        digits = digit[_span_positions(starts, lengths)]
        plain[numbers[np.logical_and.reduceat(digits, np.cumsum(lengths) - lengths)]] = False
    return plain


def distinct_in_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's distinct value, numbered in order of first appearance, and where each distinct
    value first appears: one hash pass (pandas.factorize), no sort."""
    codes, distinct = pd.factorize(keys, sort=False)
    first = np.empty(len(distinct), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


def word_hashes(words: Iterable[str]) -> np.ndarray:
    """The hash ``tokenize`` gives each of ``words`` (already folded, one word each)."""
    words = list(words)
    codes = np.frombuffer("\x00".join(words).encode("utf-32-le"), dtype=np.uint32)
    tokens = tokenize(codes, np.r_[0, np.flatnonzero(codes == 0) + 1])
    return tokens.word_hash


def ngram_streams(
    tokens: Tokens,
    *,
    word_ngram_range: tuple[int, int],
    char_ngram_range: tuple[int, int],
    bits: int,
    char_windows: str = "text",
    blocks: tuple[int, ...] = (0, 1),
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(block, doc, column) arrays, one triple per n-gram order: words (block 0), chars (block 1).

    Each stream is in document order. Windows that would cross from one text into the next
    get column ``2**bits`` (one past the hashed columns), which every table keeps at zero:
    cheaper than cutting them out of the arrays. With ``char_windows="chunks"`` a character
    window may not cross a space either (a space may only open or close it): the character
    n-grams of each space-separated chunk padded with one space, as scikit-learn's
    ``char_wb`` analyzer takes them. ``blocks`` picks the blocks to stream.
    """
    shift = np.uint64(64 - bits)
    outside = np.int64(1 << bits)
    word_hash, word_doc = tokens.word_hash, tokens.word_doc
    low, high = word_ngram_range if 0 in blocks else (1, 0)
    for n in range(low, high + 1):
        count = len(word_hash) - n + 1
        if count <= 0:
            continue
        h = word_hash[:count] ^ _SALT_WORD[n - 1]
        for k in range(1, n):
            h = h * _PRIME + word_hash[k : k + count]
        columns = (_mix(h) >> shift).astype(np.int64)
        if n > 1:
            columns[word_doc[n - 1 : n - 1 + count] != word_doc[:count]] = outside
        yield 0, word_doc[:count], columns
    if 1 not in blocks:
        return
    padded = tokens.padded.astype(np.uint64)
    # The 0s before each position, and in all.
    zeros = np.r_[tokens.doc_of_position, np.count_nonzero(tokens.padded == 0)]
    chunked = char_windows == "chunks"
    if chunked:
        spaces = np.r_[0, np.cumsum(tokens.padded == 32)]
    low, high = char_ngram_range
    for n in range(low, high + 1):
        count = len(padded) - n + 1
        if count <= 0:
            continue
        h = np.full(count, _SALT_CHAR + np.uint64(n), dtype=np.uint64)
        for k in range(n):
            h = h * _PRIME + padded[k : k + count]
        columns = (_mix(h) >> shift).astype(np.int64)
        columns[zeros[n : n + count] != zeros[:count]] = outside  # a separator inside the window
        if chunked:
            # A space inside the window (not at its ends), or nothing but spaces (an empty text).
            crossing = spaces[n - 1 : n - 1 + count] != spaces[1 : 1 + count]
            if n == 2:
                crossing = spaces[2 : 2 + count] - spaces[:count] == 2
            columns[crossing] = outside
        yield 1, tokens.doc_of_position[:count], columns


def ngram_occurrences(
    tokens: Tokens,
    *,
    word_ngram_range: tuple[int, int],
    char_ngram_range: tuple[int, int],
    bits: int,
    char_windows: str = "text",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc, column, block) of every word n-gram (block 0) and character n-gram (block 1)."""
    docs, columns, blocks = [], [], []
    for block, stream_docs, stream_columns in ngram_streams(
        tokens,
        word_ngram_range=word_ngram_range,
        char_ngram_range=char_ngram_range,
        bits=bits,
        char_windows=char_windows,
    ):
        inside = stream_columns < (1 << bits)
        docs.append(stream_docs[inside])
        columns.append(stream_columns[inside])
        blocks.append(np.full(int(inside.sum()), block, dtype=np.int8))
    if not docs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8)
    return np.concatenate(docs), np.concatenate(columns), np.concatenate(blocks)


_YOU_WORDS = ("you", "you're", "youre", "yourself", "ur", "u", "ya", "your", "yall", "y'all", "thou")
_URL_WORDS = ("http", "https", "www")


# Bit flags of the word lists the lexical signals look words up in.
_IS_YOU, _IS_INSULT, _IS_INSULT_PLURAL, _IS_PROFANE, _IS_URL, _IS_LIKE = 1, 2, 4, 8, 16, 32


@functools.cache
def _lexicon_table() -> tuple[np.ndarray, np.ndarray]:
    """The hashes of every lexicon word, sorted, and each one's flags (computed once: they
    depend only on the hash function)."""
    lists = (
        (_IS_YOU, _YOU_WORDS),
        (_IS_INSULT, INSULT_WORDS),
        (_IS_INSULT_PLURAL, INSULT_PLURALS),
        (_IS_PROFANE, PROFANITY),
        (_IS_URL, _URL_WORDS),
        (_IS_LIKE, ("like",)),
    )
    each = [(flag, word_hashes(sorted(words))) for flag, words in lists]
    hashes = np.concatenate([h for _, h in each])
    bits = np.concatenate([np.full(len(h), flag, dtype=np.uint8) for flag, h in each])
    table, where = np.unique(hashes, return_inverse=True)
    flags = np.zeros(len(table), dtype=np.uint8)
    np.bitwise_or.at(flags, where, bits)
    return table, flags


def _lexicon_flags(word_hash: np.ndarray) -> np.ndarray:
    """Each word's lexicon flags (0 for a word in no list), from one binary search per word."""
    table, flags = _lexicon_table()
    index = np.minimum(np.searchsorted(table, word_hash), len(table) - 1)
    return np.where(table[index] == word_hash, flags[index], np.uint8(0))


#: Names of the lexical signals of ``HashedTextFeatures``, in column order.
HASHED_LEXICAL_FEATURES = (
    "second_person",
    "targeted_insult",
    "insult_words",
    "profanity",
    "caps_ratio",
    "repeated_punct",
    "elongation",
    "exclamations",
    "urls",
    "emoji",
    "length",
)


#: The semantic signals of lexicon version 3, after ``HASHED_LEXICAL_FEATURES``: the mean, over
#: a text's words found in the word-semantics table, of each word's insult and troll leaning.
SEMANTIC_FEATURES = ("semantic_insult", "semantic_troll")

#: The version of the lexical signals new models are trained with. 1: as until 2026.11-v3;
#: 2: demeaning words count in the plural too, and one before "like you" / "like yourself" is
#: aimed ("sociopaths like yourself"); 3: adds ``SEMANTIC_FEATURES`` from the table
#: ``SEMANTIC_TABLES[3]``. A model keeps the version it was trained with.
LEXICON_VERSION = 3

#: The word-semantics table each lexicon version reads (file beside this module, and its
#: sha256: a table is read only if it is the one the version was built with). Built by
#: ``scripts/build_semantic_table.py`` from a sentence encoder; see there.
SEMANTIC_TABLES = {
    3: ("semantic_v1.npz", "9374124b610bb0955fd52d1f0b1568b70fe58c570c824c413d5506f1c95d981c"),
}


def lexical_feature_names(version: int = LEXICON_VERSION) -> tuple[str, ...]:
    """The lexical columns of ``lexical_matrix`` under ``version``, in order."""
    return HASHED_LEXICAL_FEATURES + (SEMANTIC_FEATURES if version >= 3 else ())


def read_pinned(path: Path, expected_sha256: str, *, what: str, pinned_as: str, hint: str) -> bytes:
    """The bytes of a data file that ships with the package (``what``, for the messages), only
    if its sha256 is ``expected_sha256``; ``ModelError`` otherwise, with ``hint`` as the fix."""
    from moderation.errors import ModelError

    try:
        payload = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(
            f"{path}: {what} is missing ({exc.strerror})",
            hint="reinstall the package (pip install -e .): the file ships with it",
        ) from None
    if hashlib.sha256(payload).hexdigest() != expected_sha256:
        raise ModelError(f"{path}: {what} is not {pinned_as}", hint=hint)
    return payload


@functools.cache
def _semantic_table(version: int) -> tuple[pd.Index, np.ndarray]:
    """The word-semantics table of ``version``: an index of its words' hashes, and each one's
    leanings (n x 2: insult, troll) with a row of zeros after the last (row -1: a word the table
    does not know). Raises ``ModelError`` when the file is not the pinned one."""
    from moderation.errors import ModelError

    name, expected = SEMANTIC_TABLES[version]
    path = Path(__file__).with_name(name)
    payload = read_pinned(
        path,
        expected,
        what="the word-semantics table",
        pinned_as=f"the one lexicon version {version} was built with",
        hint="restore it from the release (git checkout moderation/" + name + ")",
    )
    with np.load(io.BytesIO(payload), allow_pickle=False) as stored:
        words = stored["words"].tobytes().decode("utf-8").split("\n")
        scores = np.vstack([stored["scores"].astype(np.float64), np.zeros((1, stored["scores"].shape[1]))])
    index = pd.Index(word_hashes(words))
    if not index.is_unique:
        raise ModelError(f"{path}: two words of the table hash alike", hint="rebuild it without one of them")
    return index, scores


@functools.cache
def _word_table(version: int) -> tuple[pd.Index, np.ndarray, np.ndarray, int]:
    """The word-semantics table of ``version`` with the lexicon's words it lacks appended, so
    that one hash lookup a word finds both: the index, each row's leanings (zero past the
    table's own rows) and lexicon flags, each with a zero row after the last (row -1), and the
    number of the table's own rows."""
    index, scores = _semantic_table(version)
    lexicon, lexicon_flags = _lexicon_table()
    found = index.get_indexer(lexicon)
    missing = found < 0
    words = index.append(pd.Index(lexicon[missing]))
    flags = np.zeros(len(words) + 1, dtype=np.uint8)
    flags[found[~missing]] = lexicon_flags[~missing]
    flags[len(index) : len(words)] = lexicon_flags[missing]
    leanings = np.vstack([scores[:-1], np.zeros((int(missing.sum()) + 1, scores.shape[1]))])
    return words, leanings, flags, len(index)


def _word_rows(tokens: Tokens, version: int) -> np.ndarray:
    """Each word's row of ``_word_table(version)`` (-1: in neither list); once a batch."""
    key = ("word rows", version)
    if key not in tokens.__dict__:
        tokens.__dict__[key] = _word_table(version)[0].get_indexer(tokens.word_hash)
    return tokens.__dict__[key]


def semantic_words(tokens: Tokens, version: int) -> tuple[np.ndarray, np.ndarray]:
    """Each word's leanings (n_words x 2, zero for a word not in the table), and per text the
    number of its words the table knows (1 when none); computed once a batch."""
    key = ("semantic", version)
    if key not in tokens.__dict__:
        _, leanings, _, table_rows = _word_table(version)
        row = _word_rows(tokens, version)
        known = np.bincount(tokens.word_doc[(row >= 0) & (row < table_rows)], minlength=tokens.n_docs)
        tokens.__dict__[key] = (leanings[row], np.maximum(known, 1))  # row -1 holds zeros
    return tokens.__dict__[key]


def lexical_matrix(texts: list[str], tokens: Tokens, *, version: int = LEXICON_VERSION) -> np.ndarray:
    """The lexical signals of every text, vectorised over the batch (``lexical_feature_names``)."""
    n = tokens.n_docs
    out = np.zeros((n, len(lexical_feature_names(version))), dtype=np.float64)
    if n == 0:
        return out
    if version >= 3:
        values, n_known = semantic_words(tokens, version)
        for j in range(values.shape[1]):
            sums = np.bincount(tokens.word_doc, weights=values[:, j], minlength=n)
            out[:, len(HASHED_LEXICAL_FEATURES) + j] = sums / n_known
    if version >= 3:
        flags = _word_table(version)[2][_word_rows(tokens, version)]
    else:
        flags = _lexicon_flags(tokens.word_hash)
    you = (flags & _IS_YOU).astype(bool)
    insult = (flags & (_IS_INSULT | (_IS_INSULT_PLURAL if version >= 2 else 0))).astype(bool)
    profane = (flags & _IS_PROFANE).astype(bool)
    url = (flags & _IS_URL).astype(bool)
    # Name-calling aimed at someone: a demeaning word within three words after "you"/"your",
    # or just before "like you" / "like yourself" ("sociopaths like yourself").
    aimed = np.zeros(len(you), dtype=bool)
    same_doc = [None, *(tokens.word_doc[:-k] == tokens.word_doc[k:] for k in (1, 2, 3))]
    for back in (1, 2, 3):
        if len(you) > back:
            aimed[back:] |= you[:-back] & same_doc[back]
    if version >= 2 and len(you) > 2:
        like = (flags & _IS_LIKE).astype(bool)
        aimed[:-2] |= like[1:-1] & you[2:] & same_doc[2]
    aimed &= insult | profane
    counts = np.zeros((n, 5))
    for column, mask in enumerate((you, aimed, insult, profane, url)):
        counts[:, column] = np.bincount(tokens.word_doc[mask], minlength=n)
    n_words = np.bincount(tokens.word_doc, minlength=n)
    out[:, 0:4] = np.log1p(counts[:, 0:4])
    out[:, 8] = np.log1p(counts[:, 4])
    out[:, 10] = np.log1p(n_words) / 5.0

    padded = tokens.padded
    docs = tokens.doc_of_position
    bang = padded == ord("!")
    punct = _NUMERIC_PUNCT[np.minimum(padded, 0x10000)]
    run_start = punct & ~np.r_[False, punct[:-1]] & np.r_[punct[1:], False]
    out[:, 5] = np.log1p(np.bincount(docs[run_start], minlength=n))
    out[:, 7] = np.log1p(np.bincount(docs[bang], minlength=n))
    emoji = ((padded >= 0x1F300) & (padded <= 0x1FAFF)) | ((padded >= 0x2600) & (padded <= 0x27BF))
    out[:, 9] = np.log1p(np.bincount(docs[emoji], minlength=n))

    # Caps and elongation are read on the original text: folding lower-cased and shortened it.
    original = np.frombuffer("\x00".join(texts).encode("utf-32-le"), dtype=np.uint32)
    if not len(original):
        return out
    separators = np.flatnonzero(original == 0)
    index = np.minimum(original, 0x10000)
    letters = _ALPHA_TABLE[index]
    upper = _UPPER_TABLE[index]
    # Per text: a sum over it and the NUL after it (never a letter); an empty last text has
    # no position of its own and keeps 0.
    text_starts = np.r_[0, separators + 1]
    within = text_starts < len(original)
    n_letters, n_upper = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    n_letters[within] = np.add.reduceat(letters.view(np.uint8), text_starts[within], dtype=np.int64)
    n_upper[within] = np.add.reduceat(upper.view(np.uint8), text_starts[within], dtype=np.int64)
    out[:, 4] = np.where(n_letters >= 8, n_upper / np.maximum(n_letters, 1), 0.0)
    if len(original) > 2:
        triple = letters[2:] & (original[2:] == original[1:-1]) & (original[1:-1] == original[:-2])
        triple_start = np.flatnonzero(triple & ~np.r_[False, triple[:-1]]) + 2
        out[:, 6] = np.log1p(np.bincount(np.searchsorted(separators, triple_start), minlength=n))
    return out


#: Chunks whose character n-gram sums ``ChunkSums`` keeps; it empties itself when full, so
#: memory stays flat (about 60 bytes a chunk). 100,000 comments hold about 200,000 distinct ones.
CHUNK_CACHE_SIZE = 500_000


class ChunkSums:
    """The character n-gram sums of the chunks a table has already scored, by chunk hash.

    A chunk's sums depend on the chunk alone (``HashedLinearScoring._chunk_sums``), and every
    batch repeats most of the last one's words: from the second frame of 20,000 comments on,
    about half of a frame's distinct chunks were in an earlier one. Each state (hash index,
    sums) is replaced whole, never changed in place, so threads scoring with one model read a
    consistent one; a thread's additions may be lost to another's, never mixed up.
    """

    def __init__(self, capacity: int = CHUNK_CACHE_SIZE) -> None:
        self.capacity = capacity
        self._state: tuple[pd.Index, np.ndarray] | None = None

    def clear(self) -> None:
        """Forget every chunk (a benchmark's repeat then starts as a new process would)."""
        self._state = None

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Each hash's row (-1 when not kept), and the sums those rows index (rows x lanes)."""
        state = self._state
        if state is None:
            return np.full(len(hashes), -1, dtype=np.int64), None
        index, sums = state
        return index.get_indexer(hashes), sums

    def add(self, hashes: np.ndarray, sums: np.ndarray) -> None:
        """Keep the sums (len(hashes) x lanes) of chunks ``hashes`` (distinct hashes)."""
        state = self._state
        if state is not None:
            new = state[0].get_indexer(hashes) < 0  # another thread may have added some
            hashes, sums = hashes[new], sums[new]
            if len(state[0]) + len(hashes) > self.capacity:
                state = None  # full: empty it and start again
        if len(hashes) > self.capacity:
            self._state = None  # more new chunks than it can keep: keep none
        elif state is None:
            self._state = (pd.Index(hashes), sums.copy())
        else:
            self._state = (state[0].append(pd.Index(hashes)), np.concatenate([state[1], sums]))


@dataclass(frozen=True)
class LinearTable:
    """Linear heads folded into the hashed column space, ready for ``linear_scores``.

    The 1 + k float32 values of a column (idf^2, then idf * coef for each head) lie side by
    side in one cell of ``packed``, padded to a power of two: an n-gram's column costs one
    random read for every head, where a table of rows cost one a row.
    """

    packed: np.ndarray  # n_hashed + 1 cells (void dtype), each the float32 lanes of a column
    rows: int  # 1 + k
    lexical: np.ndarray  # k x n_lexical
    chunk_sums: ChunkSums = field(default_factory=ChunkSums, compare=False, repr=False)

    def gather(self, columns: np.ndarray) -> np.ndarray:
        """The lanes of ``columns``: (len(columns), lanes) float32; lane j is row j."""
        return np.take(self.packed, columns).view(np.float32).reshape(len(columns), -1)

    @staticmethod
    def empty_cells(n: int, rows: int) -> np.ndarray:
        """Zeroed cells for ``n`` columns of ``rows`` lanes each (padded to a power of two), as
        an n x lanes float32 array: fill lane j with row j, then ``as_packed``."""
        return np.zeros((n, 1 << max(0, (rows - 1).bit_length())), dtype=np.float32)

    @staticmethod
    def as_packed(cells: np.ndarray) -> np.ndarray:
        """``empty_cells`` once filled, as ``packed`` cells (a view, no copy)."""
        return cells.view(np.dtype((np.void, 4 * cells.shape[1]))).reshape(cells.shape[0])


@dataclass(frozen=True)
class Contributions:
    """Per-word, per-pair and per-signal contributions of a batch (``HashedTextFeatures.contributions``)."""

    codes: np.ndarray  # the padded folded batch's code points; word i is codes[word_start[i]:word_end[i]]
    word_start: np.ndarray
    word_end: np.ndarray
    word_doc: np.ndarray
    word_hash: np.ndarray
    word_values: np.ndarray  # n_words x heads
    pair_values: np.ndarray  # (n_words - 1) x heads: words i and i + 1
    lexical_values: np.ndarray  # n_docs x n_lexical x heads

    @functools.cached_property
    def folded(self) -> str:
        """The padded folded batch as text: word i is ``folded[word_start[i]:word_end[i]]``."""
        return self.codes.tobytes().decode("utf-32-le")

    def word_strings(self, words: np.ndarray) -> list[str]:
        """The folded text of each of ``words`` (indices), decoded from those words alone."""
        words = np.asarray(words, dtype=np.int64)
        if not len(words):
            return []
        starts, lengths = self.word_start[words], self.word_end[words] - self.word_start[words]
        # Each word's code points and a 0 after it (no word holds a 0), decoded in one go.
        positions = _span_positions(starts, lengths + 1)
        codes = self.codes[np.minimum(positions, len(self.codes) - 1)]
        codes[np.cumsum(lengths + 1) - 1] = 0
        return codes.tobytes().decode("utf-32-le").split("\x00")[:-1]

    def select(self, docs: np.ndarray) -> Contributions:
        """The contributions of the texts ``docs`` (indices, repeats allowed), as a new batch."""
        docs = np.asarray(docs, dtype=np.int64)
        first = np.searchsorted(self.word_doc, docs, side="left")
        last = np.searchsorted(self.word_doc, docs, side="right")
        lengths = last - first
        total = int(lengths.sum())
        words = _span_positions(first, lengths)
        new_doc = np.repeat(np.arange(len(docs)), lengths)
        pairs = np.zeros((max(total - 1, 0), self.pair_values.shape[1]))
        if total > 1:
            has_pair = (words[:-1] < len(self.pair_values)) & (new_doc[1:] == new_doc[:-1])
            pairs[has_pair] = self.pair_values[words[:-1][has_pair]]
        return Contributions(
            codes=self.codes,
            word_start=self.word_start[words],
            word_end=self.word_end[words],
            word_doc=new_doc,
            word_hash=self.word_hash[words],
            word_values=self.word_values[words],
            pair_values=pairs,
            lexical_values=self.lexical_values[docs],
        )


@dataclass(frozen=True)
class LinearPass:
    """What ``HashedTextFeatures.linear_pass`` finds in one pass over a batch of texts."""

    logits: np.ndarray  # n x heads: the heads' text scores, intercepts not included
    contributions: Contributions | None  # with ``contributions=True``
    # Per text, of its prose words (``plain_words``): those with a weight (seen in training,
    # or sharing a hashed column with a word that was), and all of them. None when the word
    # n-grams start above unigrams.
    known_words: np.ndarray | None
    n_words: np.ndarray | None



class HashedLinearScoring:
    """The scoring half of ``features.HashedTextFeatures``: its linear pass over hashed n-grams.

    Shared by the estimator (which adds fit, transform and the scikit-learn contract) and by
    ``ScoringHashedFeatures``, the form a model loaded for scoring takes. Needs the fitted
    ``idf_``, ``bits``, the n-gram ranges, ``char_windows``, ``lexicon_version``,
    ``lexical_scale``, ``n_hashed_`` and ``n_output_features_``.
    """

    def _check_fitted(self) -> None:
        if not hasattr(self, "idf_"):
            raise AttributeError("the hashed features are not fitted: call fit first")

    def prepare_linear(self, coef: np.ndarray) -> LinearTable:
        """Fold the idf into coefficient rows ``coef`` (k x n_output_features_) for ``linear_scores``."""
        self._check_fitted()
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        if coef.shape[1] != self.n_output_features_:
            raise ValueError(f"coef has {coef.shape[1]} columns; the features have {self.n_output_features_}")
        n = self.n_hashed_
        idf = self.idf_.astype(np.float64)
        # Rows idf^2 and idf * coef_k, plus a zero column for cut windows, packed so that one
        # take reads a column's value for every row (a take of a 2-D table's rows is several
        # times slower than a 1-D take of whole cells). Each row is written straight into its
        # lane of the cells: no table of rows to transpose (a fresh process pays for every page
        # it touches).
        cells = LinearTable.empty_cells(n + 1, 1 + len(coef))
        np.multiply(idf, idf, out=cells[:n, 0], casting="same_kind")
        for k, row in enumerate(coef, start=1):
            np.multiply(idf, row[:n], out=cells[:n, k], casting="same_kind")
        lexical = coef[:, n:] * self.lexical_scale
        return LinearTable(packed=LinearTable.as_packed(cells), rows=1 + len(coef), lexical=lexical)

    def linear_scores(
        self, texts: list[str], prepared: LinearTable, *, contributions: bool = False
    ) -> np.ndarray | tuple[np.ndarray, Contributions]:
        """``transform(texts) @ coef.T`` without building the matrix (see ``prepare_linear``).

        With ``contributions=True`` also returns how much each word, word pair and lexical
        signal added to each head (``Contributions``), from the same pass over the n-grams:
        character n-grams are credited to the word they start in (or, for a window starting on
        a space, the word it ends in; with ``char_windows="chunks"`` shared out among the words
        of their chunk); word bigrams, and trigrams, to the pair they start with.
        """
        result = self.linear_pass(texts, prepared, contributions=contributions)
        return (result.logits, result.contributions) if contributions else result.logits

    def linear_pass(
        self, texts: list[str], prepared: LinearTable, *, contributions: bool = False
    ) -> LinearPass:
        """``linear_scores`` with everything the pass learns on the way (see ``LinearPass``)."""
        self._check_fitted()
        n = len(texts)
        codes, starts = fold_codepoints(texts, version=self.fold_version)
        tokens = tokenize(codes, starts)
        heads = prepared.lexical.shape[0]
        n_words = len(tokens.word_start)
        chunked = self.char_windows == "chunks"
        if contributions and not chunked:
            # Word index of every position of the padded text (-1 between words).
            word_at = np.full(len(tokens.padded), -1, dtype=np.int64)
            lengths = tokens.word_end - tokens.word_start
            if n_words:
                word_at[_span_positions(tokens.word_start, lengths)] = np.repeat(np.arange(n_words), lengths)
        if contributions:
            # Raw (not yet normalised) credit per word and per pair; block 0 words, 1 chars.
            word_raw = np.zeros((2, heads, n_words))
            pair_raw = np.zeros((heads, max(n_words - 1, 0)))
        sums = np.zeros((2, heads + 1, n))
        known_words = prose_words = None
        word_order = 0
        for block, docs, columns in ngram_streams(
            tokens,
            word_ngram_range=tuple(self.word_ngram_range),
            char_ngram_range=tuple(self.char_ngram_range),
            bits=self.bits,
            char_windows=self.char_windows,
            blocks=(0,) if chunked else (0, 1),
        ):
            lanes = prepared.gather(columns)
            idf_squared = lanes[:, 0]
            sums[block, 0] += np.bincount(docs, weights=idf_squared, minlength=n)
            if block == 0 and word_order == 0 and self.word_ngram_range[0] == 1:
                prose = plain_words(tokens)
                known_words = np.bincount(docs[prose], weights=idf_squared[prose] > 0, minlength=n)
                prose_words = np.bincount(docs[prose], minlength=n)
            if contributions and block == 1:
                span = len(tokens.padded) - len(columns) + 1  # this stream's n-gram length
                owner = word_at[: len(columns)]
                ending = word_at[span - 1 : span - 1 + len(columns)]
                owner = np.where(owner >= 0, owner, ending)
                credited = owner >= 0
            for k in range(heads):
                weights = lanes[:, k + 1]
                sums[block, k + 1] += np.bincount(docs, weights=weights, minlength=n)
                if not contributions:
                    continue
                if block == 0:
                    order = self.word_ngram_range[0] + word_order
                    if order == 1:
                        word_raw[0, k] += weights
                    elif order == 2:
                        pair_raw[k] += weights
                    elif order == 3:  # a trigram is credited to the pair it starts with
                        pair_raw[k][: len(weights)] += weights
                else:
                    word_raw[1, k] += np.bincount(
                        owner[credited], weights=weights[credited], minlength=n_words
                    )
            if block == 0:
                word_order += 1
        if chunked:
            chunk_doc, chunk_sums = self._chunk_sums(tokens, prepared)
            for j in range(heads + 1):
                sums[1, j] += np.bincount(chunk_doc, weights=chunk_sums[j], minlength=n)
            if contributions and n_words and len(chunk_doc):
                # A chunk's character n-grams are shared out among the words inside it.
                chunk_of_word = tokens.chunk_of_word
                words_in_chunk = np.bincount(chunk_of_word, minlength=len(chunk_doc))
                word_raw[1] += chunk_sums[1:, chunk_of_word] / words_in_chunk[chunk_of_word]
        norm = np.sqrt(sums[:, 0, :])
        inverse_norm = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        lexical = lexical_matrix(texts, tokens, version=self.lexicon_version)
        out = lexical @ prepared.lexical.T
        for block in (0, 1):
            out += (sums[block, 1:, :] * inverse_norm[block]).T
        if not contributions:
            return LinearPass(out, None, known_words, prose_words)
        word_doc = tokens.word_doc
        word_values = (word_raw[0] * inverse_norm[0][word_doc] + word_raw[1] * inverse_norm[1][word_doc]).T
        lexical_values = lexical[:, :, None] * prepared.lexical.T[None, :, :]
        if self.lexicon_version >= 3 and n_words:
            # The semantic signals are means of word leanings: each known word is credited with
            # its share, and the signals themselves with nothing (the sum stays the same).
            first = len(HASHED_LEXICAL_FEATURES)
            values, n_known = semantic_words(tokens, self.lexicon_version)
            known_in_doc = n_known[word_doc]
            for k in range(heads):
                for j in range(values.shape[1]):
                    weight = prepared.lexical[k, first + j]
                    if weight:  # a head reads only its own label's leaning
                        word_values[:, k] += values[:, j] * weight / known_in_doc
            lexical_values[:, first:, :] = 0.0
        pair_values = (pair_raw * inverse_norm[0][word_doc[:-1]]).T if n_words > 1 else np.zeros((0, heads))
        if n_words > 1:
            pair_values[word_doc[1:] != word_doc[:-1]] = 0.0
        explained = Contributions(
            codes=tokens.padded,
            word_start=tokens.word_start,
            word_end=tokens.word_end,
            word_doc=word_doc,
            word_hash=tokens.word_hash,
            word_values=word_values,
            pair_values=pair_values,
            lexical_values=lexical_values,
        )
        return LinearPass(out, explained, known_words, prose_words)

    def _chunk_sums(self, tokens: Tokens, prepared: LinearTable) -> tuple[np.ndarray, np.ndarray]:
        """The character n-gram sums of every chunk of the batch, each distinct chunk hashed once.

        With ``char_windows="chunks"`` a chunk's character n-grams depend on the chunk alone,
        and comments repeat their words: the n-grams of a frame's distinct chunks (a small part
        of its characters) are hashed and looked up, and every occurrence takes its chunk's sums.
        Returns each chunk occurrence's text index and its sums (``1 + heads`` rows, as the
        table: idf^2 first), in the order of ``tokens.chunks``.
        """
        padded = tokens.padded
        chunk_start, chunk_end = tokens.chunks
        rows = prepared.rows
        if not len(chunk_start):
            return np.zeros(0, dtype=np.int64), np.zeros((rows, 0))
        # Distinct chunks by their hash (as words are told apart); those the table has not met
        # before, their code points joined by 0, as a batch of their own: a chunk's sums do not
        # depend on where it stands, nor on the other chunks around it.
        hashes = tokens.span_hash(chunk_start, chunk_end)
        codes, first = distinct_in_order(hashes)
        kept_rows, kept_sums = prepared.chunk_sums.find(hashes[first])
        new = np.flatnonzero(kept_rows < 0)
        per_chunk = np.zeros((rows, len(first)))
        if len(new) < len(first):
            old = np.flatnonzero(kept_rows >= 0)
            per_chunk[:, old] = kept_sums[kept_rows[old]].T  # type: ignore[index]
        if len(new):
            at = first[new]
            per_chunk[:, new] = self._distinct_chunk_sums(padded, chunk_start[at], chunk_end[at], prepared)
            prepared.chunk_sums.add(hashes[at], per_chunk[:, new].T)
        return tokens.doc_of_position[chunk_start], per_chunk[:, codes]

    def _distinct_chunk_sums(
        self, padded: np.ndarray, starts: np.ndarray, ends: np.ndarray, prepared: LinearTable
    ) -> np.ndarray:
        """The sums (rows x chunks) of the chunks ``padded[start:end]``, one per chunk given."""
        lengths = ends - starts + 1  # with the 0 after it
        distinct_codes = padded[_span_positions(starts, lengths)]
        distinct_codes[np.cumsum(lengths) - 1] = 0
        distinct_codes = distinct_codes[:-1]
        distinct_tokens = tokenize(distinct_codes, np.r_[0, np.flatnonzero(distinct_codes == 0) + 1])
        per_chunk = np.zeros((prepared.rows, len(starts)))
        for _, docs, columns in ngram_streams(
            distinct_tokens,
            word_ngram_range=tuple(self.word_ngram_range),
            char_ngram_range=tuple(self.char_ngram_range),
            bits=self.bits,
            char_windows="chunks",
            blocks=(1,),
        ):
            lanes = prepared.gather(columns)
            for j in range(prepared.rows):
                per_chunk[j] += np.bincount(docs, weights=lanes[:, j], minlength=len(starts))
        return per_chunk

    def contributions(self, texts: list[str], prepared: LinearTable) -> Contributions:
        """The ``Contributions`` of ``texts`` (see ``linear_scores``)."""
        return self.linear_scores(texts, prepared, contributions=True)[1]

    def phrase_columns(self, words: list[str]) -> list[tuple[str, int]]:
        """(phrase, column) of the word bigrams of ``words`` (folded, in text order)."""
        self._check_fitted()
        if self.word_ngram_range[1] < 2 or len(words) < 2:
            return []
        hashes = word_hashes(words)
        if len(hashes) != len(words):  # a "word" the tokenizer splits: skip phrases
            return []
        h = (hashes[:-1] ^ _SALT_WORD[1]) * _PRIME + hashes[1:]
        columns = (_mix(h) >> np.uint64(64 - self.bits)).astype(np.int64)
        return [(f"{words[i]} {words[i + 1]}", int(c)) for i, c in enumerate(columns) if self.idf_[c] > 0]

    def token_feature_indices(self, folded_token: str) -> np.ndarray:
        """Columns produced by one folded word on its own: its unigram and its char n-grams."""
        self._check_fitted()
        codes = np.frombuffer(folded_token.encode("utf-32-le"), dtype=np.uint32)
        tokens = tokenize(codes, np.zeros(1, dtype=np.int64))
        _, columns, _ = ngram_occurrences(
            tokens,
            word_ngram_range=(1, 1),
            char_ngram_range=tuple(self.char_ngram_range),
            bits=self.bits,
            char_windows=self.char_windows,
        )
        columns = np.unique(columns)
        return columns[self.idf_[columns] > 0]


# --- context signals ---------------------------------------------------------------------------

#: Names of the context signals, in column order. All are 0 when the thread is unknown.
CONTEXT_FEATURES = (
    "has_context",
    "reply_depth",
    "is_reply",
    "hostility_to_parent",
    "parent_hostility",
    "called_troll",
    "author_share",
    "author_exchanges",
    "repetition",
    "title_distance",
)



def _word_set(folded: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(folded) if len(w) > 3)


#: The version of the context signals new models are trained with. 1: as until 2026.12-v4;
#: 2: an ordinary comment in an ordinary thread scores 0 on every signal. The author's share
#: counts only their comments beyond the first ((comments - 1) / (thread size - 1)), where it
#: was comments / thread size, so one comment in a two-comment thread weighed 0.5; and the
#: distance from the title counts only what a comment strays beyond the thread's median
#: comment, where nearly every comment on a real site sat at 0.7-1.0. A model keeps its version.
CONTEXT_VERSION = 3
#: 3: as 2, with the texts folded by ``FOLD_VERSION`` 2 (1 and 2 fold by version 1).


def context_matrix(
    frame: pd.DataFrame, hostility: np.ndarray | None = None, *, version: int = CONTEXT_VERSION
) -> np.ndarray:
    """The context signals of every row of ``frame`` (rows of whole threads, in any order).

    ``hostility`` is each row's text-only insult probability (the insult head's output); it
    drives "hostility to the parent" and "the parent's hostility". Rows whose thread is
    unknown (no thread_id, or alone in the frame with no parent and no title) get all zeros,
    so the troll head falls back to the text alone. ``version``: see ``CONTEXT_VERSION``.
    """
    n = len(frame)
    out = np.zeros((n, len(CONTEXT_FEATURES)), dtype=np.float64)
    if n == 0:
        return out

    def column(name: str) -> np.ndarray:
        if name in frame.columns:
            return frame[name].fillna("").astype(str).to_numpy(dtype=object)
        return np.full(n, "", dtype=object)

    thread = column("thread_id")
    if not (thread != "").any():
        return out  # no thread is known (a flat dump): every signal is 0
    parent = column("parent_id")
    title = column("thread_title")
    thread_sizes = pd.Series(thread).map(pd.Series(thread).value_counts()).to_numpy()
    has_parent = parent != ""
    known = (thread != "") & ((thread_sizes > 1) | has_parent | (title != ""))
    if not known.any():
        return out
    author = column("author")
    comment_id = column("comment_id")
    texts = column("text")
    depth = (
        pd.to_numeric(frame["depth"], errors="coerce").fillna(0).to_numpy(dtype=np.float64)
        if "depth" in frame.columns
        else np.zeros(n)
    )
    host = np.zeros(n) if hostility is None else np.asarray(hostility, dtype=np.float64)

    fold_version = 1 if version <= 2 else 2
    folded = np.asarray(fold_texts(texts, version=fold_version), dtype=object)
    index_of = {cid: i for i, cid in enumerate(comment_id) if cid}
    parent_idx = np.asarray([index_of.get(p, -1) if p else -1 for p in parent], dtype=np.int64)
    has_parent_row = parent_idx >= 0

    out[:, 0] = known
    out[:, 1] = np.log1p(np.maximum(depth, has_parent_row.astype(float)))
    out[:, 2] = has_parent_row
    # Hostility to the parent: a hostile text written as a reply is aimed at the parent's author.
    out[:, 3] = np.where(has_parent_row, host, 0.0)
    out[:, 4] = np.where(has_parent_row, host[np.maximum(parent_idx, 0)], 0.0)

    # Replies that call this row's author a troll, shill or bot.
    called = np.zeros(n)
    accuses = np.asarray([bool(_TROLL_CALL.search(f)) for f in folded])
    for child in np.flatnonzero(has_parent_row & accuses):
        called[parent_idx[child]] += 1
    out[:, 5] = np.log1p(called)

    # Author's share of the thread and the exchanges they keep going (replies to someone who
    # replied to them), both only for named authors.
    named = author != ""
    keys = pd.Series([f"{t}\x1f{a}" for t, a in zip(thread, author, strict=True)])
    author_counts = keys.map(keys[named].value_counts()).fillna(0).to_numpy()
    if version >= 2:
        share = (author_counts - 1) / np.maximum(thread_sizes - 1, 1)
    else:
        share = author_counts / np.maximum(thread_sizes, 1)
    out[:, 6] = np.where(named & known, np.maximum(share, 0.0), 0.0)
    parent_author = np.where(has_parent_row, author[np.maximum(parent_idx, 0)], "")
    grand_idx = np.where(has_parent_row, parent_idx[np.maximum(parent_idx, 0)], -1)
    grand_author = np.where(grand_idx >= 0, author[np.maximum(grand_idx, 0)], "")
    back_and_forth = named & (parent_author != "") & (grand_author == author) & (parent_author != author)
    exchange_keys = keys[back_and_forth]
    exchanges = keys.map(exchange_keys.value_counts()).fillna(0).to_numpy()
    out[:, 7] = np.where(named & known, np.log1p(exchanges), 0.0)

    # Repetition: the same author posting the same (folded) text again in the thread.
    text_keys = pd.Series([f"{k}\x1f{f}" for k, f in zip(keys, folded, strict=True)])
    repeats = text_keys.map(text_keys.value_counts()).to_numpy() - 1
    out[:, 8] = np.where(named & known & (folded != ""), np.log1p(repeats), 0.0)

    # Distance from what the thread is about: share of this comment's content words that never
    # appear in the title or in the thread's first post.
    first_post: dict[str, frozenset[str]] = {}
    for i in np.flatnonzero(known):
        if thread[i] not in first_post and not has_parent[i] and depth[i] == 0:
            first_post[thread[i]] = _word_set(folded[i])
    title_words: dict[str, frozenset[str]] = {}
    for i in np.flatnonzero(known):
        if thread[i] not in title_words:
            in_title = _word_set(fold_text(title[i], version=fold_version))
            title_words[thread[i]] = in_title | first_post.get(thread[i], frozenset())
    for i in np.flatnonzero(known):
        about = title_words.get(thread[i], frozenset())
        words = _word_set(folded[i])
        if about and words and not (not has_parent[i] and first_post.get(thread[i]) == words):
            out[i, 9] = len(words - about) / len(words)
    if version >= 2:
        # Off topic for this thread: further from its title than the thread's median comment.
        distance = pd.Series(out[:, 9])
        typical = distance.groupby(pd.Series(thread)).transform("median").to_numpy()
        out[:, 9] = np.maximum(out[:, 9] - typical, 0.0)
    out[~known] = 0.0
    return out


_TROLL_CALL = re.compile("|".join(TROLL_ACCUSATIONS))
_WORD = re.compile(r"[a-z']+")


#: Parameters that artifacts saved before they existed lack: such a model reads every character
#: window of the text and the first lexical signals, and scores as it did when it was trained.
HASHED_STATE_DEFAULTS = {"char_windows": "text", "lexicon_version": 1, "fold_version": 1}
#: Likewise for the context signals: artifacts saved before ``version`` read the first ones.
CONTEXT_STATE_DEFAULTS = {"version": 1}


class ScoringHashedFeatures(HashedLinearScoring):
    """A fitted ``features.HashedTextFeatures`` as a model loaded for scoring holds it: the
    linear pass, no fit or matrix (see ``registry.load_model(for_scoring=True)``)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**HASHED_STATE_DEFAULTS, **state})


class ContextScoring:
    """The scoring half of ``features.ContextSignals``: its signals of a frame of rows, with
    the ``hostility`` column when there is one. Needs ``version`` and ``scale``."""

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        hostility = frame["hostility"].to_numpy(dtype=np.float64) if "hostility" in frame.columns else None
        return context_matrix(frame, hostility, version=self.version) * self.scale


class ScoringContextSignals(ContextScoring):
    """A fitted ``features.ContextSignals`` as a model loaded for scoring holds it."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**CONTEXT_STATE_DEFAULTS, **state})

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.signals(X)
