from hypothesis import given
from hypothesis import strategies as st

from marketplace.matching import highlights, tokenizer
from marketplace.matching.search_index import Document, tsvector_literal


def test_chinese_is_segmented_with_the_words_inside_compounds() -> None:
    tokens = tokenizer.index_tokens("一种锂离子电池的制备方法")
    assert {"锂离子电池", "锂离子", "电池", "制备方法"} <= set(tokens)
    # Function words say nothing about the technology.
    assert "的" not in tokens
    assert "一种" not in tokens


def test_a_query_is_cut_into_whole_words() -> None:
    assert tokenizer.query_terms("锂离子电池") == ["锂离子电池"]
    assert tokenizer.query_terms("芯片封装") == ["芯片", "封装"]


def test_english_is_stemmed_and_lower_cased_and_full_width_folded() -> None:
    assert tokenizer.query_terms("Batteries") == tokenizer.query_terms("battery") == ["batteri"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "BATTERY")
    assert tokenizer.query_terms(full_width) == ["batteri"]
    assert tokenizer.query_terms("the battery of a car") == ["batteri", "car"]


def test_mixed_text_keeps_both_languages_in_order() -> None:
    assert tokenizer.query_terms("电池 thermal management 芯片") == [
        "电池",
        "thermal",
        "manag",
        "芯片",
    ]


def test_punctuation_and_symbols_are_not_words() -> None:
    assert tokenizer.query_terms("100% ; -- ''") == ["100"]
    assert tokenizer.query_terms("%%% !!") == []


def test_edit_variants_reach_a_word_one_edit_away() -> None:
    variants = tokenizer.edit_variants("batery")
    assert variants["batteri"] == "battery"
    assert "bateri" not in variants  # the word's own stem is not a variant


@given(st.text(max_size=200))
def test_tokens_are_always_plain_words(text: str) -> None:
    for token in tokenizer.index_tokens(text):
        assert token
        assert " " not in token
        assert "'" not in token
        assert '"' not in token


def test_tsvector_literal_weights_title_above_body() -> None:
    literal = tsvector_literal(Document(title=["电池", "pack"], body=["电池"]))
    assert literal == "'电池':1A,3C 'pack':2A 'script:zh'"


def test_snippet_marks_matched_words_and_escapes_the_rest() -> None:
    text = "<b>Batteries</b> for drones; 一种锂离子电池"
    excerpt = highlights.snippet(text, ["batteri", "电池"])
    assert excerpt == "&lt;b&gt;<em>Batteries</em>&lt;/b&gt; for drones; 一种锂离子<em>电池</em>"
    assert highlights.snippet("nothing here", ["batteri"]) is None


def test_snippet_of_a_long_text_is_an_excerpt_around_the_match() -> None:
    text = "x" * 300 + " battery " + "y" * 300
    excerpt = highlights.snippet(text, ["batteri"])
    assert excerpt is not None
    assert excerpt.startswith("…")
    assert excerpt.endswith("…")
    assert "<em>battery</em>" in excerpt
    assert len(excerpt) < 200


def test_snippet_marks_every_match_inside_the_excerpt_and_clips_the_last() -> None:
    # The excerpt starts 40 characters before the first match (here the Chinese one, before
    # any English word) and holds 160: the matches inside it are marked, one across its end is
    # cut there, and the one after it is not shown.
    text = "a" * 50 + " 电池 " + "b" * 40 + " batteries " + "c" * 60 + " battery battery"
    excerpt = highlights.snippet(text, ["batteri", "电池"])
    assert excerpt == (
        "…"
        + "a" * 39
        + " <em>电池</em> "
        + "b" * 40
        + " <em>batteries</em> "
        + "c" * 60
        + " <em>batte</em>…"
    )
