"""Reading Tansu's stored batches without Tansu: offsets from the key, records from the Kafka batch inside."""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streams.object_log import LogRecord, batch_records, partitions, read_partition


def _batch(values: list[bytes | None]) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for n, value in enumerate(values):
        builder.append(n, timestamp=1000 + n, key=f"k{n}".encode(), value=value, headers=[])
    return bytes(builder.build())


def test_a_stored_batch_gives_its_records_at_the_offsets_its_key_names() -> None:
    records = batch_records(_batch([b"a", None, b"c"]), base_offset=40, partition=3)
    assert records == [LogRecord(3, 40, 1000, b"k0", b"a"), LogRecord(3, 41, 1001, b"k1", None),
                       LogRecord(3, 42, 1002, b"k2", b"c")]


def test_a_partition_is_read_in_offset_order_past_any_listing_page() -> None:
    prefix = "clusters/tansu_cluster/topics/t/partitions/0000000002/records/"
    stored = {f"{prefix}{n * 2:0>20}.batch": _batch([b"%d" % (n * 2), b"%d" % (n * 2 + 1)]) for n in range(1500)}
    stored["clusters/tansu_cluster/topics/t/partitions/0000000002/watermark.json"] = b"{}"

    class Store:
        def keys(self, prefix: str = "") -> list[str]:
            return sorted((k for k in stored if k.startswith(prefix)), reverse=True)

        def get(self, key: str) -> bytes:
            return stored[key]

    assert partitions(Store(), "t") == [2]  # type: ignore[arg-type]
    values = [r.value for r in read_partition(Store(), "t", 2)]  # type: ignore[arg-type]
    assert values == [b"%d" % n for n in range(3000)]
