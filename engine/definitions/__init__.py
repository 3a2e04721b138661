"""Deployed versions as the runtime reads them (ADR 5): finding a process's version (``versions``) and its
parsed spec, rebuilt from the stored files on first use and kept per version (``specs``).

Below the runtime, above forms and BPMN: the deployer writes versions and the runtime runs them, and both
read them through here, so neither imports the other.
"""
from __future__ import annotations

from engine.definitions.specs import SpecCache
from engine.definitions.versions import find_version

__all__ = ["SpecCache", "find_version"]
