"""The numpy vectoriser and scorer reproduce scikit-learn exactly (tiny model trained here)."""

from __future__ import annotations

import numpy as np
import pytest

from config import load_city
from detectors.text.datasets import read_complaints
from detectors.text.export import pack_strings, quantize, text_features_from_sklearn, unpack_strings
from detectors.text.features import KeyIndex, SparseRows
from detectors.text.redact import redact

sklearn = pytest.importorskip("sklearn")
from sklearn.svm import LinearSVC  # noqa: E402

from detectors.text.train import Design, TrainSettings  # noqa: E402

ODD = ["", "   ", "a", "😀 emoji 漢字 mixed", "Ёлки  палки\n\nтест\tтаб", "x" * 5000, "[PHONE] [ID]", "12 34"]


@pytest.fixture(scope="module")
def tiny():
    if not load_city("spb").history.data.exists():
        pytest.skip("shared SPb data not available")
    rows = read_complaints(load_city("spb"), limit=700)
    texts = [redact(r.text).text for r in rows]
    has_address = [bool(r.address) for r in rows]
    design = Design(texts[:500], TrainSettings())
    x = design.matrix(texts[:500], has_address[:500])
    y = np.array([r.levels[1] for r in rows[:500]])
    svm = LinearSVC(C=0.5).fit(x, y)
    features = text_features_from_sklearn(design.word, design.char, TrainSettings().address_weight)
    return design, svm, features, texts[500:] + ODD, has_address[500:] + [False] * len(ODD)


def test_vectoriser_equals_sklearn(tiny):
    design, _svm, features, texts, has_address = tiny
    expected = design.matrix(texts, has_address).toarray()
    got = features.transform(texts, has_address).to_dense()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_scorer_equals_sklearn_predictions(tiny):
    design, svm, features, texts, has_address = tiny
    weights = np.vstack([svm.coef_.T, np.zeros((1, len(svm.classes_)))]).astype(np.float32)
    scores = features.transform(texts, has_address).dot(weights) + svm.intercept_
    np.testing.assert_allclose(scores, svm.decision_function(design.matrix(texts, has_address)), atol=1e-4)
    assert list(svm.classes_[scores.argmax(1)]) == list(svm.predict(design.matrix(texts, has_address)))


def test_int8_weights_keep_predictions(tiny):
    design, svm, features, texts, has_address = tiny
    q, scale = quantize(svm.coef_.T)
    weights = np.vstack([q.astype(np.float32) * scale, np.zeros((1, len(svm.classes_)), np.float32)])
    scores = features.transform(texts, has_address).dot(weights) + svm.intercept_
    agree = np.mean(svm.classes_[scores.argmax(1)] == svm.predict(design.matrix(texts, has_address)))
    assert agree >= 0.98


def test_sparse_rows_dot_handles_empty_rows():
    rows = SparseRows(np.array([0, 0, 2, 2, 3]), np.array([0, 2, 1]), np.array([1.0, 2.0, 3.0], np.float32), 3)
    weights = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    np.testing.assert_allclose(rows.dot(weights), [[0, 0], [3, 2], [0, 0], [0, 3]])
    with pytest.raises(ValueError):
        rows.dot(weights[:3])


def test_key_index_finds_keys_and_misses():
    keys = np.array([5, 17, 1 << 62, 33, 2**64 - 1], dtype=np.uint64)
    index = KeyIndex(keys, np.arange(5))
    got = index.get(np.array([17, 4, 2**64 - 1, 1 << 62, 6], dtype=np.uint64))
    assert list(got) == [1, -1, 4, 2, -1]


def test_packed_strings_round_trip():
    items = ["мусор", "loud music", "垃圾", ""]
    assert unpack_strings(pack_strings(items)) == items
    assert unpack_strings(pack_strings([])) == []


def test_scorer_reuses_the_last_batch_for_meta_free_heads(tiny):
    from detectors.text.scoring import LinearScorer

    _design, svm, features, texts, has_address = tiny
    weights = np.vstack([svm.coef_.T, np.zeros((1, len(svm.classes_)))]).astype(np.float32)
    text_only = weights.copy()
    text_only[-2] = 0.0  # the has_address row
    scorer = LinearScorer(features, {"level": (weights, svm.intercept_), "dispatch": (text_only, svm.intercept_)})
    assert scorer.meta_free == {"dispatch"}
    first = scorer.scores(texts, has_address)
    assert scorer.scores(list(texts), heads=("dispatch",)) is first  # same batch, meta-free head
    again = scorer.scores(texts, None, heads=("level",))  # meta changes the level head: rescored
    assert again is not first
    np.testing.assert_allclose(again["dispatch"], first["dispatch"], atol=1e-5)


def test_scorer_shifts_the_last_batch_to_other_meta_values(tiny):
    from detectors.text.scoring import LinearScorer

    _design, svm, features, texts, has_address = tiny
    weights = np.vstack([svm.coef_.T, np.zeros((1, len(svm.classes_)))]).astype(np.float32)
    heads = {"level": (weights, svm.intercept_)}
    scorer = LinearScorer(features, heads)
    scorer.scores(texts, has_address)
    shifted = scorer.scores(texts, None, heads=("level",))
    fresh = LinearScorer(features, heads).scores(texts, None)
    np.testing.assert_allclose(shifted["level"], fresh["level"], atol=1e-5)
