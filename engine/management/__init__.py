"""The administrators' services of the facade (``engine.api.Whistle``): accounts and API tokens
(``identity``), deployments, incidents, timer jobs, the clock, working-day calendars and audit verification
(``operations``). Above staff casework, below the facade (ADR 8)."""
