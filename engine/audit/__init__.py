"""The record: the keyed hash chains of audit events, one per case plus the system chain (``chain``, ADR 7), the
audit key (``keys``) and the accountability ledger (``ledger``, ADR 3). Imports only the store, time and errors."""
