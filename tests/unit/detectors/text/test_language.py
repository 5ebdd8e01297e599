"""Language detection by script and small profiles, on every kind of input."""

from __future__ import annotations

import pytest

from detectors.text.language import UNDETERMINED, detect_language, detect_languages


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Мусор во дворе не вывозят уже неделю", "ru"),
        ("В подъезде грязно, объявления на стенах", "ru"),
        ("Garbage on the street near my house", "en"),
        ("楼下垃圾没人清理，已经一周了", "zh"),
        ("ゴミが回収されていない", "ja"),
        ("쓰레기가 수거되지 않았습니다", "ko"),
        ("сміття не вивозять з нашої вулиці", "uk"),
        ("боклукът не е събиран от нашата улица", "bg"),
        ("Қоқыс шығарылмады", "kk"),
        # Kazakh writes і like Ukrainian: і with ы (never Ukrainian) or Kazakh letters, else trigrams decide
        ("Мектептегі су ішетін фонтандар істемейді.", "kk"),
        ("Мектептегі география кабинетінде карталар мен глобустар жоқ.", "kk"),
        ("Біздің аулада жарық жоқ", "kk"),
        ("У дворі не працює ліхтар", "uk"),
        ("Біля школи немає світла", "uk"),
        ("Đèn đường bị hỏng ở phường 5, quận 3", "vi"),
        ("Cống thoát nước bị tắc", "vi"),
        ("la basura no ha sido recogida en la calle", "es"),
        ("Der Müll wurde nicht abgeholt", "de"),
        ("les ordures ne sont pas ramassées", "fr"),
        ("القمامة لم تجمع", "ar"),
        ("Σκουπίδια στο δρόμο", "el"),
    ],
)
def test_languages(text, language):
    assert detect_language(text) == language


def test_mixed_script_follows_the_majority():
    assert detect_language("Мусор near the metro station entrance, please") == "en"
    assert detect_language("Большая куча мусора возле ТЦ Mega") == "ru"
    assert detect_language("垃圾 near 地铁站 出口 没人 清理") == "zh"


def test_links_do_not_make_russian_latin():
    assert detect_language("Повторно: https://gorod.gov.spb.ru/problems/3173160/ не светит") == "ru"


@pytest.mark.parametrize("text", ["", "   ", "12345", "🙂🙂🙂", "!!!???", "\x00"])
def test_no_letters_is_undetermined(text):
    assert detect_language(text) == UNDETERMINED


def test_batch_keeps_order_and_length():
    texts = ["мусор", "", "garbage bins", "垃圾", "😀"] * 3
    assert detect_languages(texts) == ["ru", UNDETERMINED, "en", "zh", UNDETERMINED] * 3
    assert detect_languages([]) == []
