"""Staff work, what a clerk's screens ask of the engine (no Flask here), as services the facade holds: ``people``
(who the screens show, who may see which case), ``versions`` (what a deployed version's sources say), ``cases``,
``inbox`` (the worklist), ``tasks``, ``submissions`` (start and complete with uploads and drafts), ``drafts``,
``attachments`` and ``diagrams``. Above the read models, the deployer, the jobs and the runtime (ADR 8)."""
