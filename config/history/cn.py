"""Chinese government-hotline messages (2020 "智慧政务" competition sample): subject + text, level-1 class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config.history.base import HistoryFormat, HistoryRecord, parse_time

__all__ = ["CnHotline"]


class CnHotline(HistoryFormat):
    """Rows ``id, created, subject, text, level1``; the full three-level taxonomy ships beside them."""

    name = "cn_hotline"
    language = "zh"
    level_names = ("level1", "level2", "level3")
    event_prefix = "cn"
    numbered_ids = True

    def matches(self, row: dict[str, Any]) -> bool:
        return "subject" in row and "text" in row

    def record(self, row: dict[str, Any]) -> HistoryRecord:
        subject = " ".join(str(row.get("subject") or "").split())
        body = " ".join(str(row.get("text") or "").split())
        return HistoryRecord(
            id=str(row["id"]),
            created=parse_time(row["created"]),
            text=f"{subject}。{body}" if subject else body,
            lat=None,
            lon=None,
            levels=(row.get("level1") or "",),
        )

    def node_ids(self, paths: Any) -> dict[tuple[str, ...], str]:
        # Chinese labels slug to nothing: ids are numbered in label order among siblings (c.cn01.02.03).
        out: dict[tuple[str, ...], str] = {}
        for path in sorted(paths, key=len):
            siblings = sorted({p[-1] for p in paths if len(p) == len(path) and p[:-1] == path[:-1]})
            number = f"{siblings.index(path[-1]) + 1:02d}"
            out[path] = f"c.cn{number}" if len(path) == 1 else f"{out[path[:-1]]}.{number}"
        return out

    def known_label_paths(self, path: str | Path) -> list[tuple[str, ...]]:
        """The competition's 15 -> 103 -> 390 taxonomy (``cn_taxonomy.jsonl`` beside the messages)."""
        source = Path(path).with_name("cn_taxonomy.jsonl")
        if not source.exists():
            return []
        out: list[tuple[str, ...]] = []
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                labels = tuple(row.get(k) or "" for k in self.level_names)
                out += [labels[: i + 1] for i in range(len(labels)) if labels[i]]
        return out
