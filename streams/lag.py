"""Consumer lag of this worker: records on its assigned partitions it has not read yet."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

from streams.metrics import CONSUMER_LAG

__all__ = ["consumer_lag", "refresh_lag"]


async def consumer_lag(app: Any) -> dict[str, int]:
    """Lag per topic summed over this worker's partitions (highwater - position), Faust's and the batch consumers'."""
    from streams.batch_consumer import RUNNING

    lag: dict[str, int] = defaultdict(int)
    for consumer in [app.consumer, *RUNNING]:
        for tp in consumer.assignment():
            with contextlib.suppress(Exception):
                high = consumer.highwater(tp)
                pos = await consumer.position(tp)
                if high is not None and pos is not None:
                    lag[tp.topic] += max(0, int(high) - int(pos))
    return dict(lag)


async def refresh_lag(app: Any) -> None:
    with contextlib.suppress(Exception):
        for name, value in (await consumer_lag(app)).items():
            CONSUMER_LAG.labels(name).set(value)
