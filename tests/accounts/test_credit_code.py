import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.accounts.credit_code import (
    ALPHABET,
    InvalidCreditCode,
    credit_code_check_character,
    normalize_credit_code,
)

# Published codes; each passes the GB 32100-2015 check (the first is verified by hand
# below, the others by the implementation).
PUBLISHED_CODES = [
    "91350100M000100Y43",
    "91110000600037341L",
    "91440300708461136T",
    "91110108551385082Q",
]


def test_alphabet() -> None:
    assert len(ALPHABET) == 31
    assert not set("IOZSV") & set(ALPHABET)


@pytest.mark.parametrize("code", PUBLISHED_CODES)
def test_published_codes_are_valid(code: str) -> None:
    assert normalize_credit_code(code) == code
    assert credit_code_check_character(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        # values 9,1,3,5,0,1,0,0,M=21,0,0,0,1,0,0,Y=30,4 with the weights:
        # 9+3+27+135+0+26+0+0+420+0+0+0+8+0+0+900+112 = 1640; 1640 mod 31 = 28;
        # 31 - 28 = 3
        ("91350100M000100Y4", "3"),
        # last value 3 instead of 4: 1640 - 112 + 84 = 1612 = 52 * 31; 31 - 0 = 31 -> 0
        ("91350100M000100Y3", "0"),
        # last value D=13: 1528 + 364 = 1892; 1892 mod 31 = 1; 31 - 1 = 30 -> Y
        ("91350100M000100YD", "Y"),
        # last value Q=24: 1528 + 672 = 2200; 2200 mod 31 = 30; 31 - 30 = 1
        ("91350100M000100YQ", "1"),
    ],
)
def test_check_character_examples(first17: str, check: str) -> None:
    assert credit_code_check_character(first17) == check


def test_check_character_input_is_validated() -> None:
    with pytest.raises(InvalidCreditCode, match="exactly 17 characters; got 16"):
        credit_code_check_character("91350100M000100Y")
    with pytest.raises(InvalidCreditCode, match="character 'O' at position 9"):
        credit_code_check_character("91350100O000100Y4")


@pytest.mark.parametrize(
    "raw",
    [
        "91350100M000100Y43",
        "91350100m000100y43",
        " 9135 0100 M000 100Y 43 ",
        "913501-00M000100Y-43",
        "91350100\u3000M000100Y43",
    ],
)
def test_accepted_spellings(raw: str) -> None:
    assert normalize_credit_code(raw) == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "credit code is empty"),
        (" - ", "credit code is empty"),
        ("91350100M000100Y4", "credit code must be 18 characters; got 17"),
        ("91350100M000100Y433", "credit code must be 18 characters; got 19"),
        (
            "91350100M0O0100Y43",
            "character 'O' at position 11 is not allowed; "
            "credit codes never use the letters I, O, Z, S or V",
        ),
        ("I1350100M000100Y43", "character 'I' at position 1 is not allowed"),
        ("91350100M000100Y4Z", "character 'Z' at position 18 is not allowed"),
        (
            "91350100M000100Y4!",
            "character '!' at position 18 is not allowed; "
            "only digits and letters other than I, O, Z, S and V are allowed",
        ),
        (
            "9135A100M000100Y43",
            "administrative division code (positions 3-8) must be 6 digits; got '35A100'",
        ),
        ("91350100M000100Y44", "check character of 91350100M000100Y44 is '4'; expected '3'"),
        ("91350100M000100Y4Y", "check character of 91350100M000100Y4Y is 'Y'; expected '3'"),
    ],
)
def test_rejections(raw: str, message: str) -> None:
    with pytest.raises(InvalidCreditCode, match=re.escape(message)):
        normalize_credit_code(raw)


digits = st.sampled_from(string.digits)
symbols = st.sampled_from(ALPHABET)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    head = draw(st.text(ALPHABET, min_size=2, max_size=2))
    division = draw(st.text(string.digits, min_size=6, max_size=6))
    tail = draw(st.text(ALPHABET, min_size=9, max_size=9))
    first17 = head + division + tail
    return first17 + credit_code_check_character(first17)


@given(code=valid_codes(), data=st.data())
def test_valid_codes_round_trip(code: str, data: st.DataObject) -> None:
    assert normalize_credit_code(code) == code
    text = "".join(data.draw(st.sampled_from([ch, ch.lower()])) for ch in code)
    for index in data.draw(st.lists(st.integers(0, len(text)), max_size=4)):
        text = text[:index] + data.draw(st.sampled_from([" ", "-"])) + text[index:]
    assert normalize_credit_code(text) == code


@given(
    code=st.one_of(st.sampled_from(PUBLISHED_CODES), valid_codes()),
    position=st.integers(0, 17),
    replacement=st.sampled_from(string.ascii_uppercase + string.digits),
)
def test_any_single_character_corruption_is_rejected(
    code: str, position: int, replacement: str
) -> None:
    if code[position] == replacement:
        return
    corrupted = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidCreditCode):
        normalize_credit_code(corrupted)


@given(code=valid_codes(), wrong=symbols)
def test_wrong_check_character_names_expected(code: str, wrong: str) -> None:
    if wrong == code[17]:
        return
    with pytest.raises(InvalidCreditCode) as excinfo:
        normalize_credit_code(code[:17] + wrong)
    assert str(excinfo.value) == (
        f"check character of {code[:17]}{wrong} is {wrong!r}; expected {code[17]!r}"
    )
