"""Stream stages, one module (or one package, for the case stage) per stage; pure logic in :mod:`agents.logic`.

Each stage module has a ``stages()`` function that returns its steps
(:class:`streams.stage.BatchStage`, :class:`streams.stage.TimerStage`): what each
reads, what it writes and its handler. Nothing registers itself on import: the
worker (:mod:`streams.cli.worker`) names the stage modules it runs and registers
their steps. The logic the steps use knows nothing of Kafka.
"""
