"""Whistle's workflow engine: BPMN on SpiffWorkflow, persisted with SQLAlchemy. Never imports Flask."""
