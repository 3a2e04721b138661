"""Who acts: local accounts and groups, passwords and sign-in limits (``accounts``), and the bearer tokens of
system clients (``tokens``). Both write audit events, so identity sits above ``engine.audit`` (ADR 8)."""
