import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace import clock
from marketplace.patents.identifiers import (
    ApplicationNumber,
    InvalidApplicationNumber,
    InvalidIpcCode,
    InvalidPublicationNumber,
    PatentKind,
    application_check_character,
    canonical_application_number,
    ipc_like_pattern,
    ipc_section,
    kind_of_canonical_number,
    normalize_ipc,
    normalize_ipc_prefix,
    normalize_publication_number,
    parse_application_number,
)

CHECK_CHARACTERS = "0123456789X"
KIND_BY_TYPE = {
    1: PatentKind.invention,
    2: PatentKind.utility_model,
    3: PatentKind.design,
    8: PatentKind.invention,
    9: PatentKind.utility_model,
}


# ---------------------------------------------------------------------------
# Application numbers: hand-checked examples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "check"),
    [
        # 2*2+0*3+2*4+1*5+1*6+0*7+1*8+2*9+3*2+4*3+5*4+6*5 = 117; 117 mod 11 = 7
        ("202110123456", "7"),
        # same but last digit 0: 117 - 30 = 87; 87 mod 11 = 10 -> X
        ("202110123450", "X"),
        # last digit 9: 87 + 45 = 132 = 12*11 -> 0
        ("202110123459", "0"),
        # 4+0+4+40+6+0+0+0+0+0+0+5 = 59; 59 mod 11 = 4
        ("201810000001", "4"),
        # 4+0+0+15+6+0+0+0+0+0+0+5 = 30; 30 mod 11 = 8
        ("200310000001", "8"),
    ],
)
def test_application_check_character_examples(digits: str, check: str) -> None:
    assert application_check_character(digits) == check


@pytest.mark.parametrize("digits", ["", "20211012345", "2021101234567", "20211012345a"])
def test_application_check_character_needs_12_digits(digits: str) -> None:
    with pytest.raises(InvalidApplicationNumber, match="exactly 12 digits"):
        application_check_character(digits)


@pytest.mark.parametrize(
    "raw",
    [
        "202110123456.7",
        "2021101234567",
        "CN202110123456.7",
        "cn 2021 1012 3456.7",
        "ZL202110123456.7",
        "zL 202110123456 . 7",
        " 202110123456.7 ",
        "\u3000CN202110123456.7",
    ],
)
def test_accepted_spellings(raw: str) -> None:
    assert canonical_application_number(raw) == "202110123456.7"


def test_lowercase_x_is_accepted() -> None:
    assert canonical_application_number("cn202110123450.x") == "202110123450.X"


def test_parsed_fields_and_properties() -> None:
    number = parse_application_number("CN201810000001.4")
    assert number == ApplicationNumber(year=2018, type_digit=1, serial="0000001", check="4")
    assert number.canonical == "201810000001.4"
    assert str(number) == "201810000001.4"
    assert number.kind is PatentKind.invention
    assert not number.is_pct


@pytest.mark.parametrize(
    ("raw", "kind", "is_pct"),
    [
        ("202110123456.7", PatentKind.invention, False),
        # 4+0+8+5+12+0+8+18+6+12+20+30 = 123; 123 mod 11 = 2
        ("202120123456.2", PatentKind.utility_model, False),
        # 4+0+8+5+18+0+8+18+6+12+20+30 = 129; 129 mod 11 = 8
        ("202130123456.8", PatentKind.design, False),
        # 4+0+8+5+48+0+8+18+6+12+20+30 = 159; 159 mod 11 = 5
        ("202180123456.5", PatentKind.invention, True),
        # 4+0+8+5+54+0+8+18+6+12+20+30 = 165; 165 mod 11 = 0
        ("202190123456.0", PatentKind.utility_model, True),
    ],
)
def test_kind_and_pct(raw: str, kind: PatentKind, is_pct: bool) -> None:
    number = parse_application_number(raw)
    assert number.kind is kind
    assert number.is_pct is is_pct


def test_kind_values() -> None:
    assert [k.value for k in PatentKind] == ["invention", "utility_model", "design"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("202110123456.8", "check character of 202110123456.8 is '8'; expected '7'"),
        ("2021101234568", "check character of 202110123456.8 is '8'; expected '7'"),
        ("202110123456", "202110123456 lacks its check character; expected 202110123456.7"),
        ("CN 202110123456.", "lacks its check character; expected 202110123456.7"),
        ("", "application number is empty"),
        ("CN", "application number is empty"),
        ("20211012345.6", "must have 12 digits before the '.', e.g. 202110123456.7; got 11"),
        ("2021101234567.8", "must have 12 digits before the '.'"),
        ("20211012345", "must have 12 digits plus a check character"),
        ("2021101234567890", "12 digits plus a check character, e.g. 202110123456.7; got 16"),
        ("20211012345A.7", "contains 'A'"),
        ("20211012345a.7", "contains 'a'"),
        ("CNX202110123456.7", "contains 'X'"),
        ("202110123456.77", "2 characters after the '.'"),
        ("2021.10123456.7", "more than one '.'"),
        ("200210123456.7", "application year 2002 is before 2003"),
        ("202140123456.7", "patent type digit 4 (5th digit)"),
        ("202150123456.7", "patent type digit 5"),
        ("202110123456.A", "check character of 202110123456.A is 'A'; expected '7'"),
        # the old pre-2003 format: 8 digits + check character
        ("98123456.7", "must have 12 digits before the '.'"),
        # full-width digits look right but are not ASCII
        ("\uff12\uff10\uff12\uff1110123456.7", "contains '\uff12'"),
    ],
)
def test_rejections(raw: str, message: str) -> None:
    with pytest.raises(InvalidApplicationNumber, match=re.escape(message)):
        parse_application_number(raw)


def test_year_bound_follows_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda: date(2025, 6, 1))
    # 2026 is next year, still accepted; 2027 is too far ahead.
    # 4+0+8+30+6+0+8+18+6+12+20+30 = 142; 142 mod 11 = 10 -> X
    assert canonical_application_number("202610123456x") == "202610123456.X"
    # 4+0+8+35+6+0+8+18+6+12+20+30 = 147; 147 mod 11 = 4
    with pytest.raises(
        InvalidApplicationNumber,
        match=re.escape("application year 2027 is in the future; the latest accepted is 2026"),
    ):
        parse_application_number("202710123456.4")
    monkeypatch.setattr(clock, "today", lambda: date(2026, 1, 1))
    assert canonical_application_number("202710123456.4") == "202710123456.4"


def test_direct_construction_is_validated() -> None:
    with pytest.raises(InvalidApplicationNumber, match="expected '7'"):
        ApplicationNumber(year=2021, type_digit=1, serial="0123456", check="8")
    with pytest.raises(InvalidApplicationNumber, match="serial number must be 7 digits"):
        ApplicationNumber(year=2021, type_digit=1, serial="123456", check="7")
    with pytest.raises(InvalidApplicationNumber, match="type digit 4"):
        ApplicationNumber(year=2021, type_digit=4, serial="0123456", check="7")
    with pytest.raises(InvalidApplicationNumber, match="before 2003"):
        ApplicationNumber(year=1999, type_digit=1, serial="0123456", check="7")


# ---------------------------------------------------------------------------
# Application numbers: properties
# ---------------------------------------------------------------------------

valid_prefixes = st.builds(
    lambda year, type_digit, serial: f"{year}{type_digit}{serial:07d}",
    st.integers(2003, 2026),
    st.sampled_from(sorted(KIND_BY_TYPE)),
    st.integers(0, 9_999_999),
)


@st.composite
def spellings(draw: st.DrawFn, digits: str, check: str) -> str:
    prefix = draw(st.sampled_from(["", "CN", "cn", "Cn", "ZL", "zl", "zL"]))
    dot = draw(st.sampled_from([".", ""]))
    if check == "X":
        check = draw(st.sampled_from(["X", "x"]))
    text = f"{prefix}{digits}{dot}{check}"
    for index in draw(st.lists(st.integers(0, len(text)), max_size=5)):
        text = text[:index] + " " + text[index:]
    return text


@given(data=st.data(), digits=valid_prefixes)
def test_every_spelling_round_trips(data: st.DataObject, digits: str) -> None:
    check = application_check_character(digits)
    canonical = f"{digits}.{check}"
    raw = data.draw(spellings(digits, check))
    number = parse_application_number(raw)
    assert number.canonical == canonical
    assert canonical_application_number(canonical) == canonical
    assert number.kind is KIND_BY_TYPE[int(digits[4])]
    assert number.is_pct is (digits[4] in "89")
    assert (number.year, number.type_digit, number.serial) == (
        int(digits[:4]),
        int(digits[4]),
        digits[5:],
    )


@given(digits=valid_prefixes, wrong=st.sampled_from(CHECK_CHARACTERS))
def test_every_other_check_character_is_rejected(digits: str, wrong: str) -> None:
    expected = application_check_character(digits)
    if wrong == expected:
        return
    with pytest.raises(InvalidApplicationNumber) as excinfo:
        parse_application_number(f"{digits}.{wrong}")
    assert str(excinfo.value) == (
        f"check character of {digits}.{wrong} is {wrong!r}; expected {expected!r}"
    )


@given(
    year=st.integers(1990, 2100),
    type_digit=st.sampled_from("0123456789"),
    serial=st.integers(0, 9_999_999),
    check=st.sampled_from(CHECK_CHARACTERS),
)
def test_canonical_shortcut_agrees_with_the_parser(
    year: int, type_digit: str, serial: int, check: str
) -> None:
    """Canonical-looking input takes a shortcut; it must accept and refuse exactly what the
    full parser does, with the same message."""
    raw = f"{year}{type_digit}{serial:07d}.{check}"
    try:
        expected: str | InvalidApplicationNumber = parse_application_number(raw).canonical
    except InvalidApplicationNumber as refused:
        expected = refused
    if isinstance(expected, str):
        assert canonical_application_number(raw) == expected == raw
    else:
        with pytest.raises(InvalidApplicationNumber) as excinfo:
            canonical_application_number(raw)
        assert str(excinfo.value) == str(expected)


@given(digits=valid_prefixes)
def test_missing_check_character_names_full_number(digits: str) -> None:
    expected = f"{digits}.{application_check_character(digits)}"
    with pytest.raises(InvalidApplicationNumber, match=re.escape(f"expected {expected}")):
        parse_application_number(digits)


# ---------------------------------------------------------------------------
# IPC: examples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("G06F 16/33", "G06F 16/33"),
        ("G06F16/33", "G06F 16/33"),
        ("g06f  16/33", "G06F 16/33"),
        ("G06F 016/33", "G06F 16/33"),
        ("G06F 0016/33", "G06F 16/33"),
        ("G06F 16/0", "G06F 16/00"),
        ("H01M 10/0525", "H01M 10/0525"),
        ("A61K 31/00", "A61K 31/00"),
        ("  a61k31 / 00 ", "A61K 31/00"),
        ("G 06 F 16 / 33", "G06F 16/33"),
        ("G06F 16/330", "G06F 16/330"),
        ("H04L 9/32", "H04L 9/32"),
        ("G06F 16/123456", "G06F 16/123456"),
    ],
)
def test_normalize_ipc_examples(raw: str, canonical: str) -> None:
    assert normalize_ipc(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "IPC code is empty"),
        ("   ", "IPC code is empty"),
        ("I06F 16/33", "section must be a letter A-H; got 'I'"),
        ("G6F 16/33", "class must be 2 digits after the section; got '6'"),
        ("G066F 16/33", "class must be 2 digits after the section; got '066'"),
        ("GF 16/33", "class must be 2 digits after the section; got 'F'"),
        ("G06/33", "subclass must be a letter after the class; got '/'"),
        ("G06F", "incomplete"),
        ("G06F 16", "incomplete"),
        ("G06F /33", "main group must be digits after the subclass; got '/'"),
        ("G06F 12345/00", "main group 12345 has more than 4 digits"),
        ("G06F 0/00", "main group must not be 0"),
        ("G06F 16-33", "expected '/' after main group 16; got '-'"),
        ("G06F 16/", "subgroup must be digits after '/'"),
        ("G06F 16/1234567", "subgroup 1234567 has more than 6 digits"),
        ("G06F 16/3", "subgroup must have at least 2 digits; write 16/03 or 16/30"),
        ("G06F 16/33A", "unexpected 'A' after subgroup 33"),
        ("G06F 1 6/33", "expected '/' after main group 1; got '6'"),
        ("G06F 16/33 (2019.01)", "unexpected '(' after subgroup 33"),
    ],
)
def test_normalize_ipc_rejections(raw: str, message: str) -> None:
    with pytest.raises(InvalidIpcCode, match=re.escape(message)):
        normalize_ipc(raw)


def test_ipc_error_quotes_input() -> None:
    with pytest.raises(InvalidIpcCode) as excinfo:
        normalize_ipc("G06F 16-33")
    assert str(excinfo.value) == "IPC code 'G06F 16-33': expected '/' after main group 16; got '-'"


@pytest.mark.parametrize(
    ("raw", "canonical", "pattern"),
    [
        ("g", "G", "G%"),
        ("G06", "G06", "G06%"),
        (" g 06 ", "G06", "G06%"),
        ("G06F", "G06F", "G06F %"),
        ("g06f", "G06F", "G06F %"),
        ("G06F 16", "G06F 16", "G06F 16/%"),
        ("G06F16", "G06F 16", "G06F 16/%"),
        ("G06F 016", "G06F 16", "G06F 16/%"),
        ("G06F 16/33", "G06F 16/33", "G06F 16/33"),
        ("G06F16/0", "G06F 16/00", "G06F 16/00"),
    ],
)
def test_prefix_levels(raw: str, canonical: str, pattern: str) -> None:
    assert normalize_ipc_prefix(raw) == canonical
    assert ipc_like_pattern(raw) == pattern


def test_main_group_pattern_does_not_match_longer_main_group() -> None:
    pattern = ipc_like_pattern("G06F 16")
    assert like(pattern, "G06F 16/33")
    assert like(pattern, "G06F 16/00")
    assert not like(pattern, "G06F 160/00")
    assert not like(pattern, "G06F 1/00")


@pytest.mark.parametrize(("raw", "section"), [("G06F 16/33", "G"), ("h01m", "H"), ("a", "A")])
def test_ipc_section(raw: str, section: str) -> None:
    assert ipc_section(raw) == section


def test_ipc_section_rejects_invalid() -> None:
    with pytest.raises(InvalidIpcCode, match="section must be a letter A-H"):
        ipc_section("Z01")


# ---------------------------------------------------------------------------
# IPC: properties
# ---------------------------------------------------------------------------


def like(pattern: str, value: str) -> bool:
    """Emulate SQL LIKE (no ESCAPE clause): % is any run, _ is any one character."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


# Small alphabets so generated prefixes and symbols often share components, including
# the textual near-misses (16 vs 160 vs 1, 33 vs 330) that a sloppy pattern would match.
sections = st.sampled_from("AGH")
classes = st.sampled_from(["01", "06", "10"])
subclasses = st.sampled_from("FMN")
main_groups = st.sampled_from(["1", "10", "16", "160", "1600"])
subgroups = st.sampled_from(["00", "01", "33", "330", "3301", "0525", "123456"])

Parts = tuple[str, str, str, str, str]
symbol_parts: st.SearchStrategy[Parts] = st.tuples(
    sections, classes, subclasses, main_groups, subgroups
)


def canonical_symbol(parts: Parts) -> str:
    section, class_, subclass, main, sub = parts
    return f"{section}{class_}{subclass} {main}/{sub}"


def canonical_prefix(parts: Parts, level: int) -> str:
    return canonical_symbol(parts) if level == 5 else _prefix_text(parts[:level])


def _prefix_text(parts: tuple[str, ...]) -> str:
    text = "".join(parts[:3])
    if len(parts) >= 4:
        text += f" {parts[3]}"
    return text


@st.composite
def messy_spelling(draw: st.DrawFn, parts: tuple[str, ...]) -> str:
    """Spell IPC components with random case, spacing and main-group leading zeros."""

    def space() -> str:
        return draw(st.sampled_from(["", " ", "  ", "\t"]))

    pieces = list(parts)
    if len(pieces) >= 4:
        zeros = draw(st.integers(0, 4 - len(pieces[3])))
        pieces[3] = "0" * zeros + pieces[3]
    if len(pieces) == 5 and pieces[4] == "00":
        pieces[4] = draw(st.sampled_from(["0", "00"]))
    text = space()
    for index, piece in enumerate(pieces):
        if index == 4:
            text += space() + "/" + space()
        elif index > 0:
            text += space()
        text += "".join(draw(st.sampled_from([ch.lower(), ch])) for ch in piece)
    return text + space()


@given(data=st.data(), parts=symbol_parts)
def test_messy_full_symbols_normalize(data: st.DataObject, parts: Parts) -> None:
    raw = data.draw(messy_spelling(parts))
    canonical = canonical_symbol(parts)
    assert normalize_ipc(raw) == canonical
    assert normalize_ipc(canonical) == canonical
    assert normalize_ipc_prefix(raw) == canonical
    assert ipc_section(raw) == parts[0]


@given(data=st.data(), parts=symbol_parts, level=st.integers(1, 5))
def test_prefix_normalization_is_idempotent(data: st.DataObject, parts: Parts, level: int) -> None:
    raw = data.draw(messy_spelling(parts[:level]))
    once = normalize_ipc_prefix(raw)
    assert once == canonical_prefix(parts, level)
    assert normalize_ipc_prefix(once) == once
    assert ipc_like_pattern(once) == ipc_like_pattern(raw)


@given(prefix=symbol_parts, level=st.integers(1, 5), symbol=symbol_parts)
def test_like_pattern_matches_exactly_the_symbols_under_prefix(
    prefix: Parts, level: int, symbol: Parts
) -> None:
    pattern = ipc_like_pattern(canonical_prefix(prefix, level))
    assert "_" not in pattern
    assert set(pattern) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /%")
    under = symbol[:level] == prefix[:level]
    assert like(pattern, canonical_symbol(symbol)) is under


# ---------------------------------------------------------------------------
# Publication numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("CN114123456B", "CN114123456B"),
        ("cn114123456b", "CN114123456B"),
        ("114123456B", "CN114123456B"),
        ("CN 114 123 456 B", "CN114123456B"),
        ("CN1234567A", "CN1234567A"),
        ("CN123456C", "CN123456C"),
        ("CN212345678U", "CN212345678U"),
        ("CN2345678Y", "CN2345678Y"),
        ("CN306123456S", "CN306123456S"),
        ("CN114123456B1", "CN114123456B1"),
        ("cn 114123456 a2", "CN114123456A2"),
    ],
)
def test_publication_number_examples(raw: str, canonical: str) -> None:
    assert normalize_publication_number(raw) == canonical
    assert normalize_publication_number(canonical) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "publication number is empty"),
        ("  ", "publication number is empty"),
        ("CN", "must have 6 to 9 digits after CN"),
        ("CNB", "must have 6 to 9 digits after CN"),
        ("US114123456B", "must have 6 to 9 digits after CN"),
        ("CN12345A", "has 5 digits; expected 6 to 9"),
        ("CN1141234567B", "has 10 digits; expected 6 to 9"),
        ("CN114123456", "CN114123456 lacks its kind code (A, B, C, U, Y or S)"),
        ("CN114123456D", "has kind code 'D'; expected A, B, C, U, Y or S"),
        ("CN114123456BB", "has kind code 'BB'"),
        ("CN114123456B12", "has kind code 'B12'"),
        ("CN114123456B.", "has kind code 'B.'"),
    ],
)
def test_publication_number_rejections(raw: str, message: str) -> None:
    with pytest.raises(InvalidPublicationNumber, match=re.escape(message)):
        normalize_publication_number(raw)


@given(
    digits=st.text("0123456789", min_size=6, max_size=9),
    kind=st.sampled_from("ABCUYS"),
    suffix=st.sampled_from(["", "1", "2", "9"]),
    prefix=st.sampled_from(["", "CN", "cn", "C N "]),
)
def test_publication_number_round_trips(digits: str, kind: str, suffix: str, prefix: str) -> None:
    canonical = f"CN{digits}{kind}{suffix}"
    assert normalize_publication_number(f"{prefix}{digits}{kind.lower()}{suffix}") == canonical
    assert normalize_publication_number(canonical) == canonical


@pytest.mark.parametrize(
    ("digit", "kind"),
    [
        ("1", "invention"),
        ("2", "utility_model"),
        ("3", "design"),
        ("8", "invention"),
        ("9", "utility_model"),
    ],
)
def test_kind_of_canonical_number_agrees_with_parsing(digit: str, kind: str) -> None:
    body = f"2020{digit}0012345"
    canonical = f"{body}.{application_check_character(body)}"
    assert kind_of_canonical_number(canonical) == parse_application_number(canonical).kind == kind
