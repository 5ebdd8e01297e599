"""Which language a complaint is written in, without downloads.

The writing system decides most cases (Han without kana is Chinese, Hangul is
Korean, Arabic script is Arabic or Persian ...). Cyrillic texts are told
apart by letters only one language uses (Ukrainian і/ї/є, Belarusian ў, Kazakh
ә/ғ/қ, Serbian ђ/ј; Bulgarian by ъ before consonants). Latin-script texts
count each language's function words and accented letters; a text with neither
is English (the common case: "Pothole", "Loud Music/Party"), and ties are broken
by small character-trigram profiles built from one sample sentence per language,
written for this module. Scripts are counted for a whole batch at once with a
code point lookup table.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["UNDETERMINED", "detect_language", "detect_languages"]

UNDETERMINED = "und"

# Script classes; the order is the column order of the per-document counts.
_SCRIPTS = [
    "latin",
    "cyrillic",
    "greek",
    "armenian",
    "hebrew",
    "arabic",
    "persian",
    "devanagari",
    "bengali",
    "thai",
    "georgian",
    "hangul",
    "kana",
    "han",
    "cyr_ru",
    "cyr_uk",
    "cyr_be",
    "cyr_kk",
    "cyr_sr",
]
_RANGES: dict[str, list[tuple[int, int]]] = {
    "latin": [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F), (0x1E00, 0x1EFF)],
    "cyrillic": [(0x400, 0x52F)],
    "greek": [(0x370, 0x3FF)],
    "armenian": [(0x530, 0x58F)],
    "hebrew": [(0x590, 0x5FF)],
    "arabic": [(0x600, 0x6FF), (0x750, 0x77F)],
    "devanagari": [(0x900, 0x97F)],
    "bengali": [(0x980, 0x9FF)],
    "thai": [(0xE00, 0xE7F)],
    "georgian": [(0x10A0, 0x10FF)],
    "hangul": [(0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)],
    "kana": [(0x3040, 0x30FF), (0x31F0, 0x31FF)],
    "han": [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF)],
}
# Letters that single out one language inside a script (counted as their own class).
_MARKERS = {
    "persian": "پچژگ",
    "cyr_ru": "ыэёЫЭЁ",
    "cyr_uk": "іїєґІЇЄҐ",
    "cyr_be": "ўЎ",
    "cyr_kk": "әғқңөұүһӘҒҚҢӨҰҮҺ",
    "cyr_sr": "ђћџјљњЂЋЏЈЉЊ",
}
_SCRIPT_LANGUAGE = {
    "greek": "el",
    "armenian": "hy",
    "hebrew": "he",
    "arabic": "ar",
    "persian": "fa",
    "devanagari": "hi",
    "bengali": "bn",
    "thai": "th",
    "georgian": "ka",
    "hangul": "ko",
    "kana": "ja",
    "han": "zh",
}

# One sentence per language, in the register of a city complaint; the trigram profiles come from these.
_SAMPLES = {
    "en": "the garbage has not been collected on our street for a week and there is a bad smell near the building, "
    "please send someone to clean the yard and fix the broken street light at the corner of the road, "
    "the snow was not removed and cars are parked on the sidewalk",
    "de": "der Müll wurde seit einer Woche nicht abgeholt und es riecht schlecht vor dem Haus, bitte schicken Sie "
    "jemanden, um den Hof zu reinigen und die kaputte Straßenlaterne an der Ecke zu reparieren, der Schnee "
    "wurde nicht geräumt und die Autos stehen auf dem Gehweg",
    "fr": "les ordures n'ont pas été ramassées dans notre rue depuis une semaine et il y a une mauvaise odeur près "
    "de l'immeuble, merci d'envoyer quelqu'un pour nettoyer la cour et réparer le lampadaire cassé au coin de "
    "la rue, la neige n'est pas déblayée et les voitures sont garées sur le trottoir",
    "es": "la basura no ha sido recogida en nuestra calle desde hace una semana y hay un mal olor cerca del "
    "edificio, por favor envíen a alguien para limpiar el patio y reparar la farola rota en la esquina de la "
    "calle, la nieve no fue retirada y los coches están aparcados en la acera",
    "it": "la spazzatura non è stata raccolta nella nostra strada da una settimana e c'è un cattivo odore vicino "
    "al palazzo, per favore mandate qualcuno a pulire il cortile e riparare il lampione rotto all'angolo "
    "della via, la neve non è stata tolta e le auto sono parcheggiate sul marciapiede",
    "pt": "o lixo não foi recolhido na nossa rua há uma semana e há um mau cheiro perto do prédio, por favor "
    "enviem alguém para limpar o pátio e consertar o poste de luz quebrado na esquina da rua, a neve não foi "
    "retirada e os carros estão estacionados na calçada",
    "nl": "het afval is al een week niet opgehaald in onze straat en er hangt een vieze geur bij het gebouw, stuur "
    "alstublieft iemand om de binnenplaats schoon te maken en de kapotte straatlantaarn op de hoek te "
    "repareren, de sneeuw is niet geruimd en de auto's staan op de stoep",
    "pl": "śmieci nie zostały wywiezione z naszej ulicy od tygodnia i przy budynku jest nieprzyjemny zapach, "
    "proszę przysłać kogoś, aby posprzątał podwórko i naprawił zepsutą latarnię na rogu ulicy, śnieg nie "
    "został usunięty a samochody stoją na chodniku",
    "tr": "çöpler bir haftadır sokağımızdan toplanmadı ve binanın yanında kötü bir koku var, lütfen avluyu "
    "temizlemek ve köşedeki kırık sokak lambasını tamir etmek için birini gönderin, kar temizlenmedi ve "
    "arabalar kaldırıma park edilmiş",
    "vi": "rác chưa được thu gom trên đường của chúng tôi trong một tuần và có mùi hôi gần tòa nhà, vui lòng cử "
    "người đến dọn sân và sửa đèn đường bị hỏng ở góc phố, tuyết chưa được dọn và ô tô đỗ trên vỉa hè",
    "kk": "бір апта бойы біздің көшеден қоқыс шығарылмады және үйдің жанында жағымсыз иіс бар, ауланы "
    "тазалап, көше бұрышындағы сынған шамды жөндеу үшін біреуді жіберуіңізді сұраймын, мектептегі су "
    "істемейді, қар тазаланбаған, көліктер тротуарда және көгалда тұр, жолдар нашар жағдайда",
    "uk": "сміття не вивозять з нашої вулиці вже тиждень і біля будинку неприємний запах, прошу надіслати "
    "когось прибрати двір і полагодити зламаний ліхтар на розі вулиці, у школі не працює вода, сніг не "
    "прибраний, машини стоять на тротуарі і на газоні, дороги в поганому стані",
    "ru": "мусор не вывозят с нашей улицы уже неделю и возле дома неприятный запах, прошу прислать кого-нибудь "
    "убрать двор и починить сломанный фонарь на углу улицы, снег не убран, в парадной грязно, машины стоят "
    "на тротуаре и на газоне",
}
_LATIN = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "tr", "vi"]
# Frequent words of each language; one-letter and shared short words ("no", "de", "in", "van") are left out.
_WORDS_BY_LANGUAGE = {
    "en": "the and of to is are was were has have been not no or for with on at near my our this there please it "
    "from all night street building sidewalk",
    "de": "der die das und ist nicht ein eine mit von den dem zu auf bitte seit wurde im",
    "fr": "le les des du et une un dans pour pas que qui sur au aux il ne merci depuis",
    "es": "el los las del en por que con una un es hay para se al favor desde",
    "it": "il lo gli di che per una un del della nel è da sono ci favore",
    "pt": "os as do da dos das que não em um uma para na há foi favor",
    "nl": "het een en niet op te er bij al om",
    "pl": "nie na się jest do od przy że proszę",
    "tr": "ve bir bu için çok var yok ile lütfen",
    "vi": "và của có không được trong một các là người đường",
}
_FUNCTION_WORDS = {lang: frozenset(words.split()) for lang, words in _WORDS_BY_LANGUAGE.items()}
_ACCENTS = {
    "de": "äöüß",
    "fr": "éèêëçàâîôûœ",
    "es": "ñáíóú¿¡",
    "it": "àèìòù",
    "pt": "ãõçáâêô",
    "pl": "ąęłśżźćń",
    "tr": "ğşıİçöü",
    "vi": "ăơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
}
# Russian writes ъ only before е/ё/ю/я (подъезд, объявление); Bulgarian also before consonants and at
# the end of words (ъгъл, боклукът).
_UKRAINIAN_ONLY = re.compile("[їєґЇЄҐ]")
_BULGARIAN_HARD_SIGN = re.compile(r"ъ(?![еёюяЕЁЮЯ])", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_LINK = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+")  # links and addresses are Latin whatever the language


def _script_table() -> np.ndarray:
    table = np.full(0x110000, -1, dtype=np.int16)
    for name, ranges in _RANGES.items():
        for lo, hi in ranges:
            table[lo : hi + 1] = _SCRIPTS.index(name)
    for name, letters in _MARKERS.items():
        table[[ord(c) for c in letters]] = _SCRIPTS.index(name)
    return table


_TABLE = _script_table()


def _trigrams(text: str) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        padded = f" {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


@lru_cache(maxsize=1)
def _profiles() -> tuple[dict[str, dict[str, float]], float]:
    """Add-one smoothed trigram log-probabilities over the union of all profiles' trigrams."""
    grams = {lang: _trigrams(sample) for lang, sample in _SAMPLES.items()}
    vocabulary = set().union(*grams.values())
    out = {}
    for lang, counts in grams.items():
        total = sum(counts.values()) + len(vocabulary)
        out[lang] = {g: math.log((counts.get(g, 0) + 1) / total) for g in vocabulary}
    return out, float(len(vocabulary))


def _latin_language(text: str) -> str:
    """Function words and accented letters vote; no evidence means English; ties go to the trigram profiles."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    votes = {lang: sum(w in _FUNCTION_WORDS[lang] for w in words) for lang in _LATIN}
    for lang, letters in _ACCENTS.items():
        votes[lang] += 2 * sum(lowered.count(ch) for ch in letters)
    best = max(votes.values())
    if best == 0:
        return "en"
    leaders = [lang for lang in _LATIN if votes[lang] == best]
    return leaders[0] if len(leaders) == 1 else _closest(text, leaders)


def _closest(text: str, candidates: Sequence[str]) -> str:
    profiles, _ = _profiles()
    grams = {g: k for g, k in _trigrams(text[:1000]).items() if g in profiles[candidates[0]]}
    if not grams:
        return candidates[0]

    def score(lang: str) -> float:
        return sum(k * profiles[lang][g] for g, k in grams.items())

    return max(candidates, key=score)


_MAIN = [
    "latin",
    "cyrillic",
    "greek",
    "armenian",
    "hebrew",
    "arabic",
    "devanagari",
    "bengali",
    "thai",
    "georgian",
    "hangul",
    "han",
]
_MERGE = {
    "persian": "arabic",
    "kana": "han",
    "cyr_ru": "cyrillic",
    "cyr_uk": "cyrillic",
    "cyr_be": "cyrillic",
    "cyr_kk": "cyrillic",
    "cyr_sr": "cyrillic",
}
_TO_MAIN = np.zeros((len(_SCRIPTS), len(_MAIN)), dtype=np.int64)
for _i, _name in enumerate(_SCRIPTS):
    _TO_MAIN[_i, _MAIN.index(_MERGE.get(_name, _name))] = 1


def _cyrillic_language(counts: np.ndarray, text: str) -> str:
    markers = {lang: int(counts[_SCRIPTS.index("cyr_" + lang)]) for lang in ("ru", "uk", "be", "kk", "sr")}
    letters = int(counts[_SCRIPTS.index("cyrillic")]) + sum(markers.values())
    # These letters never occur in Russian; one stray letter in a long text does not decide.
    for lang in ("kk", "sr", "be", "uk"):
        if markers[lang] >= max(1, 0.02 * letters):
            if lang != "uk":
                return lang
            # Kazakh writes і too (and ы/э, which Ukrainian never does); і alone is told apart by trigrams.
            if markers["ru"] > 0 or markers["kk"] > 0:
                return "kk"
            return "uk" if _UKRAINIAN_ONLY.search(text) else _closest(text, ["uk", "kk"])
    if markers["ru"] == 0 and len(_BULGARIAN_HARD_SIGN.findall(text)) >= 2:
        return "bg"
    return "ru"


def detect_languages(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 code of each text (``"und"`` when it has no letters: empty, digits, emoji only)."""
    if not texts:
        return []
    capped = [t[:2000] if t else "" for t in texts]
    capped = [_LINK.sub(" ", t) if ("/" in t or "@" in t or "www" in t) else t for t in capped]
    lengths = np.fromiter(map(len, capped), dtype=np.int64, count=len(capped))
    codepoints = np.frombuffer("".join(capped).encode("utf-32-le"), dtype=np.uint32)
    script = _TABLE[codepoints].astype(np.int64)
    owner = np.repeat(np.arange(len(capped)), lengths)
    keep = script >= 0
    counts = np.bincount(owner[keep] * len(_SCRIPTS) + script[keep], minlength=len(capped) * len(_SCRIPTS))
    counts = counts.reshape(len(capped), len(_SCRIPTS))
    main = counts @ _TO_MAIN
    top = main.argmax(axis=1)
    ru = counts[:, _SCRIPTS.index("cyr_ru")]
    # Common case decided in numpy: Cyrillic with Russian-only letters and no other language's letters.
    plain_russian = (
        (top == _MAIN.index("cyrillic")) & (ru > 0) & (counts[:, _SCRIPTS.index("cyr_ru") :].sum(axis=1) == ru)
    )
    out = ["ru" if r else "" for r in plain_russian]
    for i in np.flatnonzero(~plain_russian):
        script_name = _MAIN[top[i]]
        if main[i, top[i]] == 0:
            out[i] = UNDETERMINED
        elif script_name == "cyrillic":
            out[i] = _cyrillic_language(counts[i], capped[i])
        elif script_name == "latin":
            out[i] = _latin_language(capped[i])
        elif script_name == "han":
            out[i] = "ja" if counts[i, _SCRIPTS.index("kana")] > 0 else "zh"
        elif script_name == "arabic":
            out[i] = "fa" if counts[i, _SCRIPTS.index("persian")] > 0 else "ar"
        else:
            out[i] = _SCRIPT_LANGUAGE[script_name]
    return out


def detect_language(text: str) -> str:
    """ISO 639-1 code of one text; see :func:`detect_languages`."""
    return detect_languages([text])[0]
