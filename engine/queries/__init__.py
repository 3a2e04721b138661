"""Read models for the web pages and the REST API: the views call these functions, never SQL (their statements
are in ``engine.store.queries``). Each takes the engine's database (``Whistle.db``) and reads in one session.

Above the deployer, the jobs and the runtime, below casework and the facade (ADR 8).
"""
