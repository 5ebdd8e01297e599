"""Turn fitted scikit-learn objects into the plain arrays the runtime reads.

Only training imports this module (it needs scikit-learn); the product loads
the arrays with :mod:`detectors.text.artifacts` and scores them with numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.text.features import BITS_PER_CHAR, TextFeatures

__all__ = ["pack_strings", "quantize", "text_features_from_sklearn", "unpack_strings"]


def _in_column_order(vocabulary: dict[str, int]) -> list[str]:
    out = [""] * len(vocabulary)
    for term, col in vocabulary.items():
        out[col] = term
    return out


def text_features_from_sklearn(word_vectorizer: Any, char_vectorizer: Any, address_weight: float) -> TextFeatures:
    """Build the numpy vectoriser equal to ``hstack([word_vectorizer, char_vectorizer, meta])``."""
    if char_vectorizer.analyzer != "char_wb":
        raise ValueError("the runtime reproduces analyzer='char_wb' only")
    words = _in_column_order(word_vectorizer.vocabulary_)
    grams = _in_column_order(char_vectorizer.vocabulary_)
    alphabet = sorted({ch for g in grams for ch in g})
    rank = {ch: i + 1 for i, ch in enumerate(alphabet)}
    keys = np.zeros(len(grams), dtype=np.uint64)
    for i, gram in enumerate(grams):
        key = len(gram) << 60
        for k, ch in enumerate(gram):
            key |= rank[ch] << (BITS_PER_CHAR * k)
        keys[i] = key
    return TextFeatures(
        words=words,
        word_idf=word_vectorizer.idf_,
        alphabet=np.array([ord(c) for c in alphabet], dtype=np.uint32),
        char_keys=keys,
        char_idf=char_vectorizer.idf_,
        char_range=char_vectorizer.ngram_range,
        sublinear_tf=bool(word_vectorizer.sublinear_tf),
        address_weight=address_weight,
    )


def quantize(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantisation per output column: ``weights ≈ q * scale``."""
    w = np.asarray(weights, dtype=np.float32)
    scale = np.abs(w).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def pack_strings(items: list[str]) -> np.ndarray:
    """Strings (without newlines) as one UTF-8 byte array: compact in ``.npz`` and fast to load."""
    if any("\n" in s for s in items):
        raise ValueError("strings to pack must not contain newlines")
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8).copy()


def unpack_strings(blob: np.ndarray) -> list[str]:
    """Inverse of :func:`pack_strings` (also importable without scikit-learn)."""
    text = bytes(np.asarray(blob, dtype=np.uint8)).decode("utf-8")
    return text.split("\n") if text else []
