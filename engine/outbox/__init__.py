"""The outbox: outbound webhooks queued in the transaction of the step that causes them (a service task,
``engine.scripting.services``) and delivered by the job executor's worker (``delivery``)."""
