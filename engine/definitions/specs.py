"""A deployed version's parsed spec: built from its stored files, with its forms and catalogs bound to it."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from engine.bpmn.parser import WhistleParser, deep_recursion
from engine.bpmn.reading import file_kind, read_xml
from engine.definitions.versions import version_label
from engine.errors import NotFound
from engine.forms import contracts
from engine.scripting import catalogs
from engine.store import Session
from engine.store import definitions as stored
from engine.store.models import DefinitionVersion

# A process's top-level spec and the specs of the processes it calls, by process id (SpiffWorkflow's pair).
Specs = tuple[Any, dict[str, Any]]


def bind_files(spec: Any, version: DefinitionVersion, files: Iterable[tuple[str, str]]) -> None:
    """Hang on a version's top-level spec what its stored files (name, content) give beside the diagrams: the
    catalogs ``catalog()`` reads, and the forms and starters that say what submissions may set."""
    files = list(files)
    catalogs.bind(spec, version_label(version), files)
    contracts.bind(spec, version.key, files)


def build_specs(version: DefinitionVersion, files: list[tuple[str, str]]) -> Specs:
    """Parse a deployed version's stored files (name, content) as deploy read them (the hardened reader)."""
    parser = WhistleParser()
    for file_name, content in files:
        if file_kind(file_name) == "dmn":
            parser.add_dmn_xml(read_xml(content).getroot(), filename=file_name)
        elif file_kind(file_name) == "bpmn":  # forms and catalogs are stored with the version too
            parser.add_bpmn_xml(read_xml(content).getroot(), filename=file_name)
    with deep_recursion():  # as at deploy: SpiffWorkflow follows the flows recursively (engine.bpmn.parser)
        spec = parser.get_spec(version.key)
        subprocess_specs = parser.get_subprocess_specs(version.key)
    bind_files(spec, version, files)
    return spec, subprocess_specs


class SpecCache:
    """Parsed specs per deployed version, rebuilt from the stored sources on first use after a restart."""

    def __init__(self) -> None:
        self._specs: dict[int, Specs] = {}
        self._lock = threading.Lock()

    def put(self, version_id: int, spec: Any, subprocess_specs: dict[str, Any]) -> None:
        with self._lock:
            self._specs[version_id] = (spec, subprocess_specs)

    def get(self, session: Session, version_id: int) -> Specs:
        cached = self._specs.get(version_id)
        if cached is not None:
            return cached
        version = stored.version_by_id(session, version_id)
        if version is None:
            raise NotFound(f"no deployed version {version_id}")
        built = build_specs(version, stored.version_files(session, version.id))
        self.put(version.id, *built)
        return built
