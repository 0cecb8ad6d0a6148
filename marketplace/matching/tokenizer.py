"""Bilingual tokens for the search index: Chinese segmented into words by jieba (with the
technical-term dictionary shipped beside this module), English lower-cased and Porter-stemmed
(Snowball English), numbers kept as they are.

Indexing and querying go through the same functions, so a word is spelled the same way in the
index and in a query on both databases.

jieba and Snowball are imported on first use: commands that never search (the daily sweep) do
not pay for them."""

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jieba

DICTIONARY = "dictionary.txt"
MAX_WORD_LENGTH = 40

# The CJK ideograph blocks, as a character-class range (also used in SQL patterns).
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{CJK_RANGES}]+|[a-z0-9]+")
_IS_CJK = re.compile(rf"[{CJK_RANGES}]")

# Words that say nothing about a technology: left out of the index and of queries.
_STOPWORDS_TEXT = """
的 了 和 与 及 或 等 在 是 为 其 该 之 于 对 由 将 以 并 中 上 下 个 一 种
一种 一个 所述 以及 用于 通过 包括 具有 进行 其中 可以
a an and are as at be by for from has have in into is it its of on or that the this to was
were which with
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_lock = threading.Lock()
_segmenter: "jieba.Tokenizer | None" = None


def segmenter() -> "jieba.Tokenizer":
    """jieba's dictionary, loaded once per process (it takes about a second) and quietly."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                loaded = jieba.Tokenizer()
                loaded.initialize()
                with resources.as_file(resources.files(__package__) / DICTIONARY) as path:
                    loaded.load_userdict(str(path))
                _segmenter = loaded
    return _segmenter


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def normalize(text: str) -> str:
    """Full-width forms folded to ASCII, lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def is_cjk(token: str) -> bool:
    return bool(_IS_CJK.search(token))


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    if word.isdigit():
        return word
    stemmed: str = _stemmer().stemWord(word)
    return stemmed


def _tokens(text: str, *, for_index: bool) -> list[str]:
    found: list[str] = []
    for run in _RUNS.findall(normalize(text)):
        if is_cjk(run):
            cut = segmenter().cut_for_search(run) if for_index else segmenter().cut(run)
            words: Iterable[str] = cut
        else:
            words = (stem(run),) if len(run) <= MAX_WORD_LENGTH else ()
        found.extend(word for word in words if word not in STOPWORDS)
    return found


def index_tokens(text: str | None) -> list[str]:
    """The words of a document, with the shorter words inside long Chinese compounds as well
    (锂离子电池 also yields 锂离子, 离子 and 电池), so that a query for any of them finds it."""
    return _tokens(text, for_index=True) if text else []


def query_terms(text: str) -> list[str]:
    """The distinct words of a query, in order."""
    return list(dict.fromkeys(_tokens(text, for_index=False)))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def edit_variants(word: str) -> dict[str, str]:
    """Stems of every spelling one edit (delete, transpose, replace, insert) away from an
    English word, each mapped to the spelling that produced it."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    spellings = [left + right[1:] for left, right in splits if right]
    spellings += [
        left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1
    ]
    spellings += [left + c + right[1:] for left, right in splits if right for c in _LETTERS]
    spellings += [left + c + right for left, right in splits for c in _LETTERS]
    variants: dict[str, str] = {}
    original = stem(word)
    for spelling in spellings:
        if spelling and spelling != word and spelling not in STOPWORDS:
            stemmed = stem(spelling)
            if stemmed != original:
                variants.setdefault(stemmed, spelling)
    return variants
