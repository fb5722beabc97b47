"""Unit tests for identity numbers, phones, masking and field encryption."""

from __future__ import annotations

import secrets
from datetime import date

import pytest

from backend.security.crypto import FieldCipher, InvalidToken, generate_key, parse_keys
from backend.security.identity import (
    InvalidIdNumber,
    InvalidPhone,
    age_on,
    birth_date_of,
    check_character,
    make_id_number,
    normalize_id_number,
    normalize_phone,
    sex_of,
)
from backend.security.masking import mask_id_number, mask_phone

TODAY = date(2024, 6, 15)
# The worked example from GB 11643-1999 itself.
STANDARD_EXAMPLE = "11010519491231002X"
LEAP_DAY_ID = make_id_number("220802", date(2000, 2, 29), 123)
BORN_TODAY = make_id_number("110105", TODAY, 1)
BORN_1900 = make_id_number("110105", date(1900, 1, 1), 1)


def _with_wrong_check(id_number: str) -> str:
    wrong = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + wrong


# --- identity numbers ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (STANDARD_EXAMPLE, STANDARD_EXAMPLE),
        ("11010519491231002x", STANDARD_EXAMPLE),
        ("  11010519491231002x\t", STANDARD_EXAMPLE),
        (LEAP_DAY_ID, LEAP_DAY_ID),
        (BORN_TODAY, BORN_TODAY),
        (BORN_1900, BORN_1900),
    ],
)
def test_valid_id_numbers(raw: str, expected: str) -> None:
    assert normalize_id_number(raw, TODAY) == expected


def test_check_character_matches_standard_example() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"


@pytest.mark.parametrize("bad", ["1234567890123456", "x" * 17, "１２３４５６７８９０１２３４５６７"])
def test_check_character_rejects_non_17_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        check_character(bad)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (STANDARD_EXAMPLE[:17], "身份证号应为18位"),
        (STANDARD_EXAMPLE + "1", "身份证号应为18位"),
        ("", "身份证号应为18位"),
        ("11010519491231A02X", "身份证号应为18位"),
        ("X1010519491231002X", "身份证号应为18位"),
        ("1101051949123100 2X", "身份证号应为18位"),
        # Full-width digits look right but are not ASCII digits.
        ("１１０１０５１９４９１２３１００２Ｘ", "身份证号应为18位"),
        (None, "身份证号应为18位"),
        ("110105" + "20010230" + "0011", "身份证号中的出生日期无效"),
        ("110105" + "20230229" + "0011", "身份证号中的出生日期无效"),
        ("110105" + "20011301" + "0011", "身份证号中的出生日期无效"),
        ("110105" + "20010100" + "0011", "身份证号中的出生日期无效"),
        ("440524188001010014", "身份证号中的出生日期无效"),
        (make_id_number("110105", date(2024, 6, 16), 1), "身份证号中的出生日期不能晚于今天"),
        (_with_wrong_check(STANDARD_EXAMPLE), "身份证号校验位错误"),
        (_with_wrong_check(LEAP_DAY_ID), "身份证号校验位错误"),
    ],
)
def test_invalid_id_numbers(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as excinfo:
        normalize_id_number(raw, TODAY)
    assert excinfo.value.reason == reason
    assert str(excinfo.value) == reason
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("id_number", "birth", "sex"),
    [
        (STANDARD_EXAMPLE, date(1949, 12, 31), "female"),
        (LEAP_DAY_ID, date(2000, 2, 29), "male"),
        (make_id_number("310101", date(1985, 7, 4), 10), date(1985, 7, 4), "female"),
        (make_id_number("310101", date(1985, 7, 4), 999), date(1985, 7, 4), "male"),
    ],
)
def test_birth_date_and_sex(id_number: str, birth: date, sex: str) -> None:
    assert birth_date_of(id_number) == birth
    assert sex_of(id_number) == sex


@pytest.mark.parametrize(
    ("region", "birth", "sequence"),
    [
        ("110105", date(1949, 12, 31), 2),
        ("220802", date(2000, 2, 29), 0),
        ("650102", date(1900, 1, 1), 999),
        ("440305", TODAY, 456),
    ],
)
def test_make_id_number_round_trips(region: str, birth: date, sequence: int) -> None:
    made = make_id_number(region, birth, sequence)
    assert len(made) == 18
    assert normalize_id_number(made, TODAY) == made
    assert normalize_id_number(made.lower(), TODAY) == made
    assert birth_date_of(made) == birth
    assert made[:6] == region
    assert int(made[14:17]) == sequence


@pytest.mark.parametrize(
    ("region", "birth", "sequence"),
    [
        ("11010", date(2000, 1, 1), 1),
        ("11010a", date(2000, 1, 1), 1),
        ("110105", date(1899, 12, 31), 1),
        ("110105", date(2000, 1, 1), 1000),
        ("110105", date(2000, 1, 1), -1),
    ],
)
def test_make_id_number_rejects_bad_parts(region: str, birth: date, sequence: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(region, birth, sequence)


# --- ages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1990, 6, 15), date(2024, 6, 14), 33),
        (date(1990, 6, 15), date(2024, 6, 15), 34),
        (date(1990, 6, 15), date(2024, 6, 16), 34),
        (date(1990, 12, 31), date(2024, 1, 1), 33),
        (date(2024, 6, 15), date(2024, 6, 15), 0),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(1999, 3, 1), date(2024, 2, 29), 24),
        (date(1999, 3, 1), date(2024, 3, 1), 25),
    ],
)
def test_age_on(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


def test_age_on_rejects_date_before_birth() -> None:
    with pytest.raises(ValueError):
        age_on(date(2024, 6, 15), date(2024, 6, 14))


# --- phones ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13912345678", "13912345678"),
        (" 13912345678 ", "13912345678"),
        ("139 1234 5678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("+8613912345678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("86-139-1234-5678", "13912345678"),
    ],
)
def test_valid_phones(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1391234567",
        "139123456789",
        "23912345678",
        "1391234567a",
        "+8623912345678",
        "+86",
        "０13912345678",
        "１３９１２３４５６７８",
        "(139)12345678",
        None,
        13912345678,
    ],
)
def test_invalid_phones(raw: object) -> None:
    with pytest.raises(InvalidPhone) as excinfo:
        normalize_phone(raw)  # type: ignore[arg-type]
    assert str(excinfo.value) == "手机号应为以1开头的11位数字"
    assert isinstance(excinfo.value, ValueError)


# --- masking --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("220802199001011234", "220802********1234"),
        ("11010519491231002X", "110105********002X"),
        ("220802900101123", "220802*****1123"),
        (None, None),
        ("", ""),
        ("12345", "*****"),
        ("12345678901234", "**************"),
    ],
)
def test_mask_id_number(raw: str | None, masked: str | None) -> None:
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13912345678", "139****5678"),
        (None, None),
        ("", ""),
        ("1234567", "*******"),
        ("1391234567", "**********"),
    ],
)
def test_mask_phone(raw: str | None, masked: str | None) -> None:
    assert mask_phone(raw) == masked


# --- field encryption -----------------------------------------------------


@pytest.fixture
def old_key() -> str:
    return generate_key()


@pytest.fixture
def new_key() -> str:
    return generate_key()


@pytest.fixture
def index_key() -> str:
    return generate_key()


@pytest.mark.parametrize("plain", ["11010519491231002X", "13912345678", "张三", ""])
def test_encrypt_decrypt_round_trip(old_key: str, index_key: str, plain: str) -> None:
    cipher = FieldCipher([old_key], index_key)
    token = cipher.encrypt(plain)
    assert isinstance(token, str)
    if plain:
        assert plain not in token
    assert token != cipher.encrypt(plain), "encryption must be randomised"
    assert cipher.decrypt(token) == plain


def test_decrypt_rejects_foreign_or_tampered_tokens(
    old_key: str, new_key: str, index_key: str
) -> None:
    token = FieldCipher([old_key], index_key).encrypt("secret")
    stranger = FieldCipher([new_key], index_key)
    with pytest.raises(InvalidToken):
        stranger.decrypt(token)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(InvalidToken):
        FieldCipher([old_key], index_key).decrypt(tampered)
    with pytest.raises(InvalidToken):
        stranger.decrypt("不是令牌")


def test_rotation_with_two_keys(old_key: str, new_key: str, index_key: str) -> None:
    old_cipher = FieldCipher([old_key], index_key)
    old_token = old_cipher.encrypt("11010519491231002X")

    rotating = FieldCipher([new_key, old_key], index_key)
    assert rotating.decrypt(old_token) == "11010519491231002X"
    assert rotating.needs_rotation(old_token) is True

    fresh = rotating.encrypt("13912345678")
    assert rotating.needs_rotation(fresh) is False
    with pytest.raises(InvalidToken):
        old_cipher.decrypt(fresh)

    rotated = rotating.rotate(old_token)
    assert rotated != old_token
    assert rotating.needs_rotation(rotated) is False
    assert rotating.decrypt(rotated) == "11010519491231002X"

    new_only = FieldCipher([new_key], index_key)
    assert new_only.decrypt(rotated) == "11010519491231002X"
    with pytest.raises(InvalidToken):
        new_only.decrypt(old_token)


def test_needs_rotation_rejects_unknown_token(old_key: str, new_key: str, index_key: str) -> None:
    token = FieldCipher([generate_key()], index_key).encrypt("x")
    with pytest.raises(InvalidToken):
        FieldCipher([new_key, old_key], index_key).needs_rotation(token)


def test_blind_index_stable_across_field_key_rotation(
    old_key: str, new_key: str, index_key: str
) -> None:
    value = STANDARD_EXAMPLE
    before = FieldCipher([old_key], index_key).blind_index(value, "id_number")
    during = FieldCipher([new_key, old_key], index_key).blind_index(value, "id_number")
    after = FieldCipher([new_key], index_key).blind_index(value, "id_number")
    assert before == during == after
    assert len(before) == 64
    int(before, 16)
    assert value not in before
    assert FieldCipher([old_key], f"{index_key}\n").blind_index(value, "id_number") == before


def test_index_key_accepts_token_urlsafe_format(old_key: str) -> None:
    # config.py generates the index key with secrets.token_urlsafe(32).
    index = secrets.token_urlsafe(32)
    first = FieldCipher([old_key], index).blind_index("13912345678", "phone")
    assert first == FieldCipher([generate_key()], index).blind_index("13912345678", "phone")


def test_blind_index_separates_kinds_values_and_index_keys(old_key: str, index_key: str) -> None:
    cipher = FieldCipher([old_key], index_key)
    other_index = FieldCipher([old_key], generate_key())
    value = "13912345678"
    assert cipher.blind_index(value, "phone") != cipher.blind_index(value, "id_number")
    assert cipher.blind_index(value, "phone") != cipher.blind_index("13912345679", "phone")
    assert cipher.blind_index(value, "phone") != other_index.blind_index(value, "phone")


@pytest.mark.parametrize("kind", ["", "Phone", "id number", "phone\x00"])
def test_blind_index_rejects_malformed_kind(old_key: str, index_key: str, kind: str) -> None:
    with pytest.raises(ValueError):
        FieldCipher([old_key], index_key).blind_index("13912345678", kind)


def test_cipher_rejects_bad_configuration(old_key: str, index_key: str) -> None:
    with pytest.raises(ValueError):
        FieldCipher([], index_key)
    with pytest.raises(ValueError):
        FieldCipher([old_key], old_key)
    with pytest.raises(ValueError):
        FieldCipher([old_key], "short")
    with pytest.raises(ValueError):
        FieldCipher([old_key], " " * 40)
    with pytest.raises(ValueError):
        FieldCipher(["not-a-key"], index_key)
    with pytest.raises(TypeError):
        FieldCipher(old_key, index_key)  # type: ignore[arg-type]
    assert old_key not in repr(FieldCipher([old_key], index_key))


def test_generate_key_is_fresh_and_parseable() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert parse_keys(f" {first} ,{second}\n") == [first, second]


def _leaks(message: str, secret: str) -> bool:
    """True if any 8-character run of ``secret`` appears in ``message``."""
    return any(secret[i : i + 8] in message for i in range(max(1, len(secret) - 7)))


@pytest.mark.parametrize(
    "make_value",
    [
        lambda good: "",
        lambda good: "  ,  ",
        lambda good: f"{good},,{generate_key()}",
        lambda good: f"{good},",
        lambda good: f"{good},{good[:-2]}",
        lambda good: f"{good},{good[:20]}!{good[21:]}",
        lambda good: f"{good},{good}",
        lambda good: f"{good},{good[:-1]}",
        lambda good: "not-a-key-but-a-long-secret-looking-string-x=",
    ],
)
def test_parse_keys_errors_do_not_leak_key_material(make_value) -> None:
    value = make_value(generate_key())
    with pytest.raises(ValueError) as excinfo:
        parse_keys(value)
    message = str(excinfo.value)
    assert message
    for part in value.split(","):
        part = part.strip()
        if len(part) >= 8:
            assert not _leaks(message, part)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None
