"""Redis keys owned by the web layer and its projections (derived state, rebuildable from the log).

They follow :mod:`streams.redis_keys` (same prefix) and sit here because only the
console, Open311 and analytics modules use them.
"""

from __future__ import annotations

from streams.redis_keys import PREFIX

__all__ = [
    "ANALYTICS_FACTS",
    "AUDIT_RECENT",
    "OPEN311_REQUESTS",
    "open311_request",
]

# Hash case_id -> compact JSON facts of the case (agents.logic.analytics.CaseFacts): what reports read.
ANALYTICS_FACTS = PREFIX + "analytics:facts"
# Capped list of the latest audit entries (JSON), newest first, for admins; the topic is the record.
AUDIT_RECENT = PREFIX + "audit:recent"
# Sorted set of Open311 service_request_ids, scored by when they were requested.
OPEN311_REQUESTS = PREFIX + "open311:requests"


def open311_request(service_request_id: str) -> str:
    """JSON of one Open311 request as submitted (no personal data), plus its case id once known."""
    return f"{PREFIX}open311:request:{service_request_id}"
