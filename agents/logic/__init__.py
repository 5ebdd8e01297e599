"""Pure logic of the stages (dedupe geometry, case lifecycle, SLA arithmetic, reports): no Kafka here."""
