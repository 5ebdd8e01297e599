"""Vision stage: camera frames become confirmed, placed, anonymised observations.

Reads ``camera-frames`` in batches across cameras and hands each batch to
:class:`detectors.vision.VisionStage` on one dedicated thread (inference is
CPU-bound and must not block the event loop; one thread also keeps the
confirmation trackers single-threaded). Unusable frames (malformed record,
unknown camera, oversize or broken JPEG) go to ``deadletter`` with the reason;
each confirmed object's evidence JPEG is stored in Redis under
``evidence(observation_id)`` before its ``Observation`` is produced, keyed by
its deterministic observation id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from detectors.vision import Detector, VisionStage
from detectors.vision.pipeline import BatchOutcome, Rejection
from streams.app import city, redis
from streams.batch_consumer import RecordEvent
from streams.metrics import FRAME_TO_OBSERVATION, MODEL_SECONDS, observe_batch
from streams.outbox import Outbox
from streams.redis_keys import evidence
from streams.settings import REPO_ROOT
from streams.stage import BatchStage
from streams.topics import CAMERA_FRAMES, DEADLETTER, OBSERVATIONS

__all__ = ["stages", "vision_stage"]

STAGE = "vision"
# On CPU a batch of 4 gets most of batching's throughput; larger batches only add latency
# (a frame waits for the whole batch). A GPU worker can raise it.
MAX_BATCH = int(os.environ.get("CITYOPS_VISION_BATCH", "4"))
log = logging.getLogger(__name__)
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision")


@cache
def vision_stage() -> VisionStage:
    """This worker's stage: one ONNX session, the city's cameras, rules and trackers."""
    settings = city().vision
    model = Path(settings.model)
    detector = Detector(
        model if model.is_absolute() else REPO_ROOT / model,
        input_size=settings.input_size,
        score_threshold=settings.score_threshold,
        iou_threshold=settings.iou_threshold,
        precision=settings.precision,
    )
    return VisionStage(city(), detector, max_model_batch=MAX_BATCH)


def _process(values: list[bytes]) -> BatchOutcome:
    """The batch, or if the batch as a whole fails, each frame alone so one bad frame fails alone."""
    try:
        stage = vision_stage()
    except Exception as exc:  # no model: frames go to deadletter (replayable), the worker keeps running
        log.exception("vision stage cannot start")
        reason = f"vision stage unavailable (model {city().vision.model!r}): {exc!r}"
        return BatchOutcome(rejections=[Rejection(i, reason, "vision_unavailable") for i in range(len(values))])
    try:
        return stage.process(values)
    except Exception:
        log.exception("vision batch of %d frames failed; retrying frame by frame", len(values))
    outcome = BatchOutcome()
    for index, value in enumerate(values):
        try:
            single = stage.process([value])
        except Exception as exc:
            outcome.rejections.append(Rejection(index, f"vision stage failed on this frame: {exc!r}", "vision_error"))
            continue
        outcome.frames += single.frames
        outcome.model_seconds += single.model_seconds
        outcome.rejections += [Rejection(index, r.reason, r.error_type) for r in single.rejections]
        outcome.findings += [dataclasses.replace(f, index=index) for f in single.findings]
    return outcome


async def _keep_evidence(observation_id: str, jpeg: bytes, ttl_s: int) -> None:
    try:
        await redis().set(evidence(observation_id), jpeg, ex=ttl_s)
    except Exception:  # evidence is derived; a Redis outage must not hold up the observation
        log.exception("could not store evidence of %s", observation_id)


async def detect_violations(events: Sequence[RecordEvent], out: Outbox) -> None:
    """One batch of frames: dead letters for the unusable ones, an observation per confirmed finding."""
    started = time.perf_counter()
    values = [bytes(event.message.value or b"") for event in events]
    outcome = await asyncio.get_running_loop().run_in_executor(_executor, _process, values)
    for rejection in outcome.rejections:
        out.dead_letter(STAGE, rejection.reason, rejection.error_type, message=events[rejection.index].message)
    for finding in outcome.findings:
        obs = finding.observation
        await _keep_evidence(obs.observation_id, finding.evidence, finding.evidence_ttl_s)
        out.add_record(OBSERVATIONS, obs.observation_id, obs)
        FRAME_TO_OBSERVATION.observe(max(0.0, time.time() - finding.captured_at))
    if outcome.frames:
        MODEL_SECONDS.labels("vision").observe(outcome.model_seconds)
    observe_batch(STAGE, started, len(events))


def stages() -> list[BatchStage]:
    # Patient: a violation is confirmed over minutes of frames, a quarter second more per frame changes nothing.
    return [BatchStage(STAGE, "cityops-vision", CAMERA_FRAMES, detect_violations, patient=True,
                       writes=(OBSERVATIONS, DEADLETTER), max_records=MAX_BATCH)]
