"""Score every linear head of a city (taxonomy levels, dispatch) in one pass over a batch's features.

The hotline stage classifies a batch and the dispatch stage then routes the
same texts; scoring all heads with one matrix product and keeping the last
batch's scores means the features of a complaint are built and multiplied once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from detectors.text.features import TextFeatures

__all__ = ["LinearScorer"]


class LinearScorer:
    """``scores[head] = features(texts) @ weights[head] + bias[head]`` for all heads at once.

    :param features: the shared vectoriser
    :param heads: name -> ``(weights (n_cols + 1, k) with a zero last row, bias (k,))``
    """

    def __init__(self, features: TextFeatures, heads: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.features = features
        self.names = list(heads)
        self._weights = np.ascontiguousarray(np.hstack([heads[n][0] for n in self.names]), dtype=np.float32)
        self._bias = np.concatenate([heads[n][1] for n in self.names]).astype(np.float32)
        self._splits = np.cumsum([heads[n][0].shape[1] for n in self.names])[:-1]
        meta = slice(features.n_words + features.n_chars, features.n_cols)
        self._meta_rows = meta
        # Heads that ignore the meta columns can reuse scores computed with any meta values.
        self.meta_free = {n for n in self.names if not np.any(heads[n][0][meta])}
        self._last: tuple[tuple[str, ...], tuple[bool, ...] | None, dict[str, np.ndarray]] | None = None

    def scores(
        self, texts: Sequence[str], has_address: Sequence[bool] | None = None, heads: Collection[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Scores per head for ``texts`` (already redacted); the last batch is answered from memory.

        :param has_address: the meta column per text (``None``: absent)
        :param heads: the heads the caller will read; lets a batch scored with other meta values be reused
        """
        key = tuple(texts)
        flags = None if has_address is None else tuple(bool(x) for x in has_address)
        last = self._last
        if last is not None and last[0] == key:
            if last[1] == flags or set(heads or self.names) <= self.meta_free:
                return last[2]
            # Same texts, other meta values: only the meta columns' share of the scores changes.
            delta = self._meta(flags, len(key)) - self._meta(last[1], len(key))
            shift = np.split(delta @ self._weights[self._meta_rows], self._splits, axis=1)
            out = {n: part + extra for (n, part), extra in zip(last[2].items(), shift, strict=True)}
        else:
            rows = self.features.transform(key, flags)
            parts = np.split(rows.dot(self._weights) + self._bias, self._splits, axis=1)
            out = dict(zip(self.names, parts, strict=True))
        self._last = (key, flags, out)
        return out

    def _meta(self, flags: tuple[bool, ...] | None, n: int) -> np.ndarray:
        """``(n, n_meta)`` meta columns as :meth:`TextFeatures.transform` fills them."""
        out = np.zeros((n, len(self.features.meta)), dtype=np.float32)
        if flags is not None and "has_address" in self.features.meta:
            out[:, self.features.meta.index("has_address")] = np.asarray(flags, np.float32) * np.float32(
                self.features.address_weight
            )
        return out
