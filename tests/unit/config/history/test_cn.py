"""Chinese hotline adapter: subject and text joined, ids numbered over the shipped taxonomy."""

from __future__ import annotations

import json

from config.history.cn import CnHotline


def test_subject_and_text_are_joined_and_ids_numbered(tmp_path):
    fmt = CnHotline()
    rec = fmt.record({"id": 1, "created": "2019/01/02 10:20:30", "subject": " 噪音 扰民", "text": "晚上 施工\n太吵",
                      "level1": "环境保护"})  # fmt: skip
    assert rec.text == "噪音 扰民。晚上 施工 太吵" and rec.levels == ("环境保护",)
    rows = [{"level1": "环境保护", "level2": "噪音", "level3": ""},
            {"level1": "城乡建设", "level2": "住房", "level3": "物业"}]
    (tmp_path / "cn_taxonomy.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    known = fmt.known_label_paths(tmp_path / "messages.jsonl")
    ids = fmt.node_ids(set(known))
    assert ids[("城乡建设",)] == "c.cn01" and ids[("环境保护",)] == "c.cn02"
    assert ids[("城乡建设", "住房", "物业")] == "c.cn01.01.01" and fmt.numbered_ids
