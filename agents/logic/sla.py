"""SLA arithmetic: when a case is due a reminder, an escalation, a verification or closing; district digests.

Pure functions over a case's state (as the case stage keeps it) and the clock.
Each action carries a deterministic command id (case, action, deadline), so the
same due action found by two timer runs is one command to the case stage.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from config.models import CityConfig
from schemas.records import CaseCommand

__all__ = ["ACTIVE_STATUSES", "SlaAction", "district_digests", "due_actions"]

# Statuses in which a department is on the clock.
ACTIVE_STATUSES = ("dispatched", "acknowledged", "in_progress", "reopened", "rejected")


@dataclass(frozen=True)
class SlaAction:
    case_id: str
    what: str  # reminder | escalate | close | verify
    command_id: str
    violation: str = ""  # verify: what the camera sees after the fix
    by: str = ""  # verify: the cameras that looked

    def command(self, at: float) -> CaseCommand:
        """The command that asks the case stage to act on this."""
        if self.what == "verify":
            return CaseCommand(command_id=self.command_id, case_id=self.case_id, type="verify", at=at,
                               violation=self.violation, by=self.by)
        return CaseCommand(command_id=self.command_id, case_id=self.case_id, type="sla", at=at, sla=self.what)


def due_actions(case: dict[str, Any], city: CityConfig, now: float,
                camera_last_frame: dict[str, float] | None = None) -> list[SlaAction]:
    """What the clock asks of ``case`` at ``now`` (empty when nothing is due)."""
    kind = city.kind(case["kind"]) if case["kind"] in {k.id for k in city.case_kinds} else city.kind(city.default_kind)
    deadline = float(case.get("sla_deadline") or 0.0)
    cid = case["case_id"]
    actions: list[SlaAction] = []
    if case["status"] in ACTIVE_STATUSES and deadline:
        if now >= deadline - kind.reminder_before_h * 3600 and case.get("reminded") != deadline:
            actions.append(SlaAction(cid, "reminder", f"sla:{cid}:reminder:{deadline}"))
        if now >= deadline and case.get("escalated") != deadline:
            actions.append(SlaAction(cid, "escalate", f"sla:{cid}:escalate:{deadline}"))
    if case["status"] == "resolved":
        resolved_at = float(case.get("resolved_at") or 0.0)
        cameras = case.get("cameras") or []
        if cameras:
            # The camera that saw the problem has looked again for a whole confirmation window and seen nothing:
            # a still-present violation would have come back as an observation and reopened the case.
            seen = camera_last_frame or {}
            if all(seen.get(c, 0.0) >= resolved_at + kind.confirmation.window_s for c in cameras):
                actions.append(SlaAction(cid, "verify", f"verify:{cid}:{resolved_at}",
                                         violation="absent", by=",".join(cameras)))
        elif now >= resolved_at + kind.reopen_window_h * 3600:
            actions.append(SlaAction(cid, "close", f"sla:{cid}:close:{resolved_at}"))
    return actions


def district_digests(cases: list[dict[str, Any]], now: float, period_s: float = 7 * 24 * 3600) -> list[dict[str, Any]]:
    """One digest per district: unresolved and overdue counts, by kind and department, oldest cases first."""
    by_district: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        if case["status"] not in ("resolved", "verified", "closed"):
            by_district[case["district"]].append(case)
    digests = []
    for district, open_cases in sorted(by_district.items()):
        open_cases.sort(key=lambda c: c.get("first_observed_at", 0.0))
        digests.append({
            "digest_id": f"digest:{district}:{int(now // period_s)}",
            "district": district,
            "period_start": now - period_s,
            "period_end": now,
            "generated_at": now,
            "unresolved": len(open_cases),
            "overdue": sum(1 for c in open_cases if c.get("sla_deadline") and c["sla_deadline"] < now),
            "by_kind": dict(Counter(c["kind"] for c in open_cases)),
            "by_department": dict(Counter(c.get("department") or "unassigned" for c in open_cases)),
            "oldest_case_ids": [c["case_id"] for c in open_cases[:10]],
        })
    return digests
