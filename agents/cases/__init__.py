"""Case stage: observations become cases; case commands move cases through their life.

Two steps, each a batch stage (:mod:`streams.stage`: whole fetches per batch,
offsets committed after the outputs were acknowledged):

* :mod:`agents.cases.merge` reads ``observations`` and decides, atomically in Redis,
  which case each belongs to (:mod:`agents.logic.dedupe`, :mod:`agents.cases.index`),
  then asks that case to attach it (``case-commands``, keyed by case id).
* :mod:`agents.cases.commands` reads ``case-commands`` and applies them to the case
  with :func:`agents.logic.lifecycle.apply`; case state (:class:`schemas.records.CaseState`)
  lives in the step's store (per owned partition, backed by the compacted ``case-state``
  topic). A case that needs a department (opened, reopened, rejected, assigned) is
  routed and dispatched in the same step (:mod:`agents.cases.dispatch`) and the
  decision is applied at once, so an observation reaches its task in two hops. Every
  transition goes to ``case-events``, alerts to ``alerts``, the state to ``case-state``
  (from which :mod:`agents.console` keeps the console's view).

:mod:`agents.cases.stage` assembles the two steps for the worker.

Redelivery is harmless at both steps: an observation keeps the case Redis gave it
the first time, a command already applied re-emits its events (same ids), and a
dispatch claim already sent produces nothing.
"""
