"""Timer jobs: ``schedule`` (a deployed version's timer start events), ``executor`` (the worker that fires due
jobs through the runtime's command executor and delivers the outbox), ``queries`` (jobs as administrators see
them). An instance's own timer rows are written with its state by the runtime (``engine.runtime.timer_jobs``)."""
