"""The Open311 request record: what ``GET requests/{id}`` answers from, made from the submission's event.

The web layer keeps it in Redis when a client submits; the views rebuild makes the
same record again from ``hotline-events`` (:mod:`agents.views`), so a Redis that lost
it still answers for every request the log holds.
"""

from __future__ import annotations

from typing import Any

from schemas.records import HotlineEvent, Open311Submission

__all__ = ["open311_record"]


def open311_record(event: HotlineEvent) -> dict[str, Any]:
    """The request record GET requests answers from, made from the submission's event on the log."""
    submitted = event.open311 or Open311Submission(description=event.text, address=event.address)
    return {
        "service_request_id": event.event_id,
        "service_code": event.service_code,
        "description": submitted.description,
        "lat": event.lat,
        "long": event.lon,
        "address": submitted.address,
        "address_id": submitted.address_id,
        "media_url": submitted.media_url,
        "requested_at": event.received_at,
        "location_precision": submitted.location_precision,
    }
