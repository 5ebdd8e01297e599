"""The fault run's verdicts: pure functions over what the topics, Redis and the supervisor recorded.

Each check takes plain JSON dicts (records as read from ``observations``,
``case-events``, ``dispatch-tasks``, ``deadletter``; case documents from Redis)
and returns a :class:`Check`, so they are tested with fixtures and no broker.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ASSIGNING_EVENTS",
    "Check",
    "check_case_documents",
    "check_complaints_in_one_case",
    "check_event_ids",
    "check_no_restart_from_pause",
    "check_tasks",
    "render_markdown",
    "render_table",
    "write_png",
]

# Case events that put an observation into a case (``agents/console.py`` lists the same in the document).
ASSIGNING_EVENTS = ("opened", "merged", "reopened")
_EXAMPLES = 5


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _observation_of(event: Mapping[str, Any]) -> str:
    """The observation a case event attached (``report``, schema v2), or ``""``."""
    return str((event.get("report") or {}).get("observation_id") or "")


def case_assignments(case_events: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """observation id -> the case ids whose opened/merged/reopened events name it."""
    cases: dict[str, set[str]] = defaultdict(set)
    for ev in case_events:
        obs = _observation_of(ev)
        if ev.get("type") in ASSIGNING_EVENTS and obs:
            cases[obs].add(str(ev["case_id"]))
    return cases


def dead_lettered_keys(dead_letters: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The record key (an event or observation id) of each dead letter -> its reason."""
    out: dict[str, str] = {}
    for dl in dead_letters:
        try:
            key = base64.b64decode(dl.get("key_b64") or "").decode("utf-8", "replace")
        except ValueError:
            continue
        if key:
            out[key] = str(dl.get("reason", ""))
    return out


def check_complaints_in_one_case(event_ids: Sequence[str], observations: Iterable[Mapping[str, Any]],
                                 case_events: Iterable[Mapping[str, Any]],
                                 dead_letters: Iterable[Mapping[str, Any]]) -> Check:
    """Every replayed complaint is in exactly one case, or was dead-lettered with a reason (never lost)."""
    obs_of = {str(o.get("source_id")): str(o.get("observation_id")) for o in observations}
    cases_of = case_assignments(case_events)
    dead = dead_lettered_keys(dead_letters)
    counts = {"complaints": len(event_ids), "in_one_case": 0, "dead_lettered": 0, "lost": 0, "in_several_cases": 0,
              "observed_not_in_a_case": 0}
    examples: list[str] = []
    for event_id in event_ids:
        obs = obs_of.get(event_id)
        cases = cases_of.get(obs, set()) if obs else set()
        if len(cases) == 1:
            counts["in_one_case"] += 1
        elif len(cases) > 1:
            counts["in_several_cases"] += 1
            examples.append(f"{event_id} in {sorted(cases)}")
        elif event_id in dead or (obs and obs in dead):
            counts["dead_lettered"] += 1
        elif obs:
            counts["observed_not_in_a_case"] += 1
            examples.append(f"{event_id}: observation {obs} in no case")
        else:
            counts["lost"] += 1
            examples.append(f"{event_id}: no observation, no dead letter")
    ok = counts["in_one_case"] + counts["dead_lettered"] == len(event_ids) and counts["in_one_case"] > 0
    summary = (f"{counts['in_one_case']}/{len(event_ids)} in exactly one case, "
               f"{counts['dead_lettered']} dead-lettered, {counts['in_several_cases']} in several, "
               f"{counts['observed_not_in_a_case']} in none, "
               f"{counts['lost']} lost")
    return Check("every complaint in exactly one case", ok, summary, counts, examples[:_EXAMPLES])


def check_case_documents(case_events: Iterable[Mapping[str, Any]],
                         documents: Mapping[str, Mapping[str, Any] | None]) -> Check:
    """Each case's document (Redis, what the console shows) lists every observation its events assigned to it."""
    expected: dict[str, set[str]] = defaultdict(set)
    for obs, cases in case_assignments(case_events).items():
        for case_id in cases:
            expected[case_id].add(obs)
    counts = {"cases": len(expected), "complete": 0, "missing_document": 0, "missing_observations": 0}
    examples: list[str] = []
    for case_id, wanted in sorted(expected.items()):
        doc = documents.get(case_id)
        if doc is None:
            counts["missing_document"] += 1
            examples.append(f"{case_id}: no document")
            continue
        listed = {str(o.get("observation_id")) for o in doc.get("observations", [])}
        missing = wanted - listed
        if missing:
            counts["missing_observations"] += len(missing)
            examples.append(f"{case_id}: lacks {sorted(missing)[:3]}")
        else:
            counts["complete"] += 1
    ok = counts["complete"] == counts["cases"] and counts["cases"] > 0
    summary = (f"{counts['complete']}/{counts['cases']} documents complete, {counts['missing_document']} missing, "
               f"{counts['missing_observations']} observations absent")
    return Check("every case document lists all its observations", ok, summary, counts, examples[:_EXAMPLES])


def _content(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def check_event_ids(case_events: Iterable[Mapping[str, Any]]) -> Check:
    """No case-event id carries two different contents (a redelivered identical copy is fine)."""
    contents: dict[str, set[str]] = defaultdict(set)
    copies = 0
    for ev in case_events:
        body = _content(ev)
        seen = contents[str(ev["event_id"])]
        copies += body in seen
        seen.add(body)
    conflicting = sorted(eid for eid, bodies in contents.items() if len(bodies) > 1)
    counts = {"event_ids": len(contents), "conflicting": len(conflicting), "identical_copies": copies}
    summary = f"{len(conflicting)} of {len(contents)} event ids with two contents ({copies} identical redeliveries)"
    return Check("no case-event id with two contents", not conflicting and bool(contents), summary, counts,
                 conflicting[:_EXAMPLES])


def check_tasks(tasks: Iterable[Mapping[str, Any]]) -> Check:
    """Exactly one task per (case, dispatch number): never two task ids, never one id with two contents."""
    ids_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    contents: dict[str, set[str]] = defaultdict(set)
    copies = 0
    for task in tasks:
        ids_of[(str(task["case_id"]), int(task.get("dispatch_no", 0)))].add(str(task["task_id"]))
        body = _content(task)
        copies += body in contents[str(task["task_id"])]
        contents[str(task["task_id"])].add(body)
    twice = sorted(f"{case}#{no}: {sorted(ids)}" for (case, no), ids in ids_of.items() if len(ids) > 1)
    changed = sorted(tid for tid, bodies in contents.items() if len(bodies) > 1)
    counts = {"tasks": len(contents), "dispatches_with_two_tasks": len(twice), "task_ids_with_two_contents":
              len(changed), "identical_copies": copies}
    summary = (f"{len(contents)} tasks; {len(twice)} dispatches with two tasks, {len(changed)} task ids with two "
               f"contents ({copies} identical redeliveries)")
    return Check("no task twice", not twice and not changed, summary, counts, (twice + changed)[:_EXAMPLES])


def check_no_restart_from_pause(pid_before: int | None, pid_after: int | None, restarts_before: int,
                                restarts_after: int, pause_s: float) -> Check:
    """The worker that ran before the Redis pause is the one running after it, and nobody restarted it."""
    same = pid_before is not None and pid_before == pid_after and restarts_after == restarts_before
    counts = {"restarts_during_pause": restarts_after - restarts_before}
    summary = (f"worker pid {pid_before} -> {pid_after}, restarts {restarts_before} -> {restarts_after} "
               f"across a {pause_s:g} s Redis pause")
    return Check("no worker restart caused by the Redis pause", same, summary, counts)


def render_table(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  {'-' * 40}"]
    for c in checks:
        lines.append(f"{c.name:<{width}}  {'PASS' if c.ok else 'FAIL':<6}  {c.summary}")
        lines.extend(f"{'':<{width}}          e.g. {ex}" for ex in c.examples[:3] if not c.ok)
    return "\n".join(lines)


def render_markdown(checks: Sequence[Check], header: str) -> str:
    rows = [f"{header}\n", "| check | result | detail |", "| --- | --- | --- |"]
    rows += [f"| {c.name} | {'PASS' if c.ok else '**FAIL**'} | {c.summary} |" for c in checks]
    return "\n".join(rows) + "\n"


def write_png(checks: Sequence[Check], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 0.6 + 0.45 * len(checks)))
    ax.axis("off")
    cells = [[c.name, "PASS" if c.ok else "FAIL", c.summary[:95]] for c in checks]
    table = ax.table(cellText=cells, colLabels=["check", "result", "detail"], loc="center", cellLoc="left",
                     colWidths=[0.3, 0.07, 0.63])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for row, c in enumerate(checks, start=1):
        table[row, 1].set_facecolor("#c8f0c8" if c.ok else "#f6c6c6")
    ax.set_title(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
