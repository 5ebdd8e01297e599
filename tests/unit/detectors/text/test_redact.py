"""Personal data is removed before anything is stored or shown; ordinary numbers stay."""

from __future__ import annotations

import pytest

from detectors.text.redact import MAX_TEXT_CHARS, redact


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("Звоните +7 (921) 123-45-67 после шести", "PHONE"),
        ("мой номер 89211234567", "PHONE"),
        ("тел. 8-812-555-12-34", "PHONE"),
        ("call (212) 555-1234 tonight", "PHONE"),
        ("or +1 646 555 0199", "PHONE"),
        ("我的电话13812345678，请回电", "PHONE"),
        ("座机010-12345678", "PHONE"),
        ("телефон: 234 56 78", "PHONE"),
        ("write to ivan.petrov@mail.ru please", "EMAIL"),
        ("СНИЛС 112-233-445 95", "ID"),
        ("ИНН 7707083893", "ID"),
        ("ИНН 500100732259", "ID"),
        ("паспорт 45 10 123456", "ID"),
        ("SSN 078-05-1120", "ID"),
        ("身份证号110101199003077777", "ID"),
        ("карта 4111 1111 1111 1111", "CARD"),
        # Kazakhstan: +7 7xx mobiles, 12-digit IIN
        ("Менің нөмірім +7 701 123 45 67", "PHONE"),
        ("ЖСН 900101300123", "ID"),
        # Viet Nam: mobiles with or without +84, landlines, 12-digit citizen id (CCCD)
        ("SĐT: 0912 345 678", "PHONE"),
        ("gọi +84 912 345 678 nhé", "PHONE"),
        ("số máy bàn 028 3829 1234", "PHONE"),
        ("CCCD 079203001234", "ID"),
        ("card 5500-0000-0000-0004", "CARD"),
    ],
)
def test_each_kind_of_personal_data_is_replaced(text, tag):
    result = redact(text)
    assert f"[{tag}]" in result.text
    assert result.found.get(tag, 0) >= 1
    digits = sum(ch.isdigit() for ch in result.text)
    assert digits <= 2, result.text  # nothing of the number is left


def test_phone_word_is_kept():
    assert redact("тел 2345678").text == "тел [PHONE]"


@pytest.mark.parametrize(
    "text",
    [
        "г.Санкт-Петербург, Мебельная улица, дом 47, корпус 1, литера А",
        "дом 47, кв. 12, 2020-10-18 14:50, 15.03.2021 в 12 часов",
        "хотел 1234567 рублей",
        "5-я Советская, 27, подъезд 3, этаж 9",
        "Nhà số 12 đường 3 tháng 2, phường 10, quận 10",
    ],
)
def test_ordinary_numbers_stay(text):
    assert redact(text).text == text
    assert redact(text).found == {}


@pytest.mark.parametrize("text", [None, "", "😀" * 50, "\x00\x00", "漢字" * 10, "ا" * 100])
def test_never_fails_on_odd_input(text):
    assert isinstance(redact(text).text, str)


def test_huge_text_is_capped():
    assert len(redact("мусор " * 10_000).text) == MAX_TEXT_CHARS
