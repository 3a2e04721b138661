"""What a deployed version's stored sources say, for the screens: its forms and what they label, the title of a
case, the names of its BPMN elements, who may start it. Versions never change, so what is read once is kept."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lxml import etree

from engine.bpmn.namespaces import BPMN_NS
from engine.bpmn.reading import read_xml
from engine.errors import InvalidInput, NotFound
from engine.forms import contracts, templates
from engine.forms import labels as form_labels
from engine.forms.files import forms_in, option_text
from engine.store import Session
from engine.store import casework as stored
from engine.store.db import Database
from engine.store.models import DefinitionVersion, HumanTask, ProcessInstance

T = TypeVar("T")
FLOW_NODES = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent",
              "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
              "eventBasedGateway", "complexGateway"}
PROCESS_NAMES_SECONDS = 30  # how long the list of deployed processes is kept (a deployment shows within this)
# Form fields whose options name streets and departments (the inbox's and case list's filters offer them).
SCOPE_FIELDS = {"streets": ("street", "streets"),
                "departments": ("department", "departments", "lead_department", "co_departments")}


class VersionFacts:
    """Facts derived from deployed versions, cached per version (entries never go stale); thread-safe."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._values: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self._process_names: tuple[float, dict[str, str]] | None = None

    def _cached(self, key: tuple, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = build()
        with self._lock:
            self._values[key] = value
        return value

    # -- forms ------------------------------------------------------------------------------------------------

    def forms(self, version_id: int) -> dict[str, dict]:
        """The forms stored with a deployed version, by form key."""
        def build() -> dict[str, dict]:
            with self.db.read() as session:
                return forms_in(stored.version_files(session, version_id))

        return self._cached(("forms", version_id), build)

    def form(self, form_key: str | None, *, version_id: int | None = None, instance_id: int | None = None,
             task_id: str | None = None) -> dict | None:
        """The form named ``form_key`` as deployed with a version (given directly, or as a case's or task's)."""
        if not form_key:
            return None
        if version_id is None:
            with self.db.read() as session:
                version_id = _version_of(session, instance_id, task_id)
        return self.forms(version_id).get(form_key)

    def asks(self, version_id: int, form_key: str | None) -> dict | None:
        """What a task asks, in the clerk's words: its form's description (Chinese and English)."""
        form = self.forms(version_id).get(form_key) if form_key else None
        if not form or not form.get("description"):
            return None
        return {"description": form["description"], "description_en": form.get("description_en")}

    def case_labels(self, version_id: int) -> dict[str, dict]:
        return self._cached(("labels", version_id), lambda: form_labels.case_labels(self.forms(version_id).values()))

    def case_fields(self, version_id: int) -> list[str]:
        """Case data names in the order the case page lists them (labelled names when no form orders them)."""
        def build() -> list[str]:
            ordered = form_labels.case_fields(self.forms(version_id).values())
            return ordered or list(self.case_labels(version_id))

        return self._cached(("fields", version_id), build)

    def case_title(self, version_id: int, data: dict) -> str:
        """A case's title: the first of its forms' ``case_title`` entries that has a value — a data name (an option
        by its label) or a template (``"{candidate_name}（{candidate_post}）"``, ``engine.forms.templates``)."""
        keys = self._cached(("title", version_id), lambda: form_labels.case_title_keys(self.forms(version_id).values()))
        for key in keys:
            if "{" in key:
                text = templates.fill(key, templates.values_of([key], data) or {}, self._text_of(version_id, "zh"))
                if text:
                    return text[:80]
                continue
            value = data.get(key)
            if value not in (None, "", [], {}):
                text = str(value)
                label = self.case_labels(version_id).get(key, {}).get("options", {}).get(text)
                return (label[0] if label else text)[:80]
        return ""

    def subject(self, version_id: int, form_key: str | None, values: dict | None) -> dict | None:
        """What a task is about, from its form's ``subject`` template and the values its inbox row keeps
        (``engine.runtime.inbox``): the template (Chinese and English) and the values, for the pages to format
        as the case page does, and the text with option labels (``text`` / ``text_en``) for the API. None when
        the form declares no subject or the task's data held none of its values."""
        form = self.forms(version_id).get(form_key) if form_key else None
        if not form or not form.get("subject") or not values:
            return None
        template, template_en = form["subject"], form.get("subject_en") or form["subject"]
        return {"template": template, "template_en": template_en, "values": values,
                "text": templates.fill(template, values, self._text_of(version_id, "zh")),
                "text_en": templates.fill(template_en, values, self._text_of(version_id, "en"))}

    def _text_of(self, version_id: int, lang: str) -> Callable[[str, Any], str]:
        """How a template's value reads without the web's formatting: an option by its label (the entry of the
        path's last key, else any field's option of that value), a list joined, anything else as it is."""
        labels = self.case_labels(version_id)
        index = self._cached(("option index", version_id), lambda: _option_index(labels))

        def text_of(path: str, value: Any) -> str:
            if isinstance(value, list):
                return "、".join(text_of(path, v) for v in value if v not in (None, ""))
            key = option_text(value)
            entry = labels.get(path) or labels.get(path.rsplit(".", 1)[-1]) or {}
            option = (entry.get("options") or {}).get(key) or index.get(key)
            if option:
                return str(option[1] if lang == "en" and option[1] else option[0])
            return key

        return text_of

    # -- the diagram ------------------------------------------------------------------------------------------

    def diagram_xml(self, version_id: int) -> str | None:
        """The BPMN file the version was deployed from."""
        def build() -> str | None:
            with self.db.read() as session:
                version = session.get(DefinitionVersion, version_id)
                return None if version is None else stored.own_source(session, version)

        return self._cached(("xml", version_id), build)

    def element_names(self, version_id: int) -> dict[str, str]:
        """Names of the BPMN elements of a version's own file, by id."""
        def build() -> dict[str, str]:
            content = self.diagram_xml(version_id)
            if not content:
                return {}
            root = read_xml(content).getroot()
            return {e.get("id"): e.get("name") for e in root.iter() if isinstance(e.tag, str)
                    and e.get("id") and e.get("name")}

        return self._cached(("names", version_id), build)

    def elements(self, version_id: int) -> list[dict]:
        """The flow nodes of a version's own file in document order — ``element_id``, ``name``, ``type`` (the
        BPMN tag: ``userTask``, ``boundaryEvent``, …) — for the administrators' mapping and repair choices."""
        def build() -> list[dict]:
            content = self.diagram_xml(version_id)
            if not content:
                return []
            found: dict[str, dict] = {}
            for e in read_xml(content).getroot().iter():
                if not isinstance(e.tag, str) or not e.get("id") or e.get("id") in found:
                    continue
                tag = etree.QName(e)
                if tag.namespace == BPMN_NS and tag.localname in FLOW_NODES:
                    found[e.get("id")] = {"element_id": e.get("id"), "name": e.get("name") or None,
                                          "type": tag.localname}
            return list(found.values())

        return self._cached(("elements", version_id), build)

    # -- starting ---------------------------------------------------------------------------------------------

    def start_info(self, session: Session, version: DefinitionVersion) -> dict:
        """How a version starts: its none start event, its start form, who may start it (the same facts the
        start command checks)."""
        def build() -> dict:
            content = stored.own_source(session, version)
            process = None
            if content is not None:
                root = read_xml(content).getroot()
                process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == version.key), None)
            facts = contracts.start_facts(process)
            info = {"process_id": version.key, "version": version.version, "version_id": version.id,
                    "name": version.name or version.key, "starter_groups": list(facts.starter_groups),
                    "starter_users": list(facts.starter_users), "form_key": facts.form_key,
                    "start_event": facts.start_event, "documentation": facts.documentation}
            if facts.start_name is not None:
                info["start_name"] = facts.start_name
            return info

        return self._cached(("start", version.id), build)

    def process_names(self) -> dict[str, str]:
        """Deployed processes by id, with the name of their latest version (for filters)."""
        cached = self._process_names
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.db.read() as session:
            names = {v.key: v.name or v.key for v in stored.latest_processes(session)}
        self._process_names = (time.monotonic() + PROCESS_NAMES_SECONDS, names)
        return names

    def scope_options(self) -> dict[str, dict[str, tuple[str, str | None]]]:
        """The streets and departments the deployed processes' forms offer, for the lists' filters:
        ``{"streets": {id: (label, English label)}, "departments": {group: (label, English label)}}``, from
        the options of the latest versions' fields named in ``SCOPE_FIELDS`` (the values tasks carry in
        ``human_task.street`` / ``.department``)."""
        with self.db.read() as session:
            version_ids = [v.id for v in stored.latest_processes(session)]
        found: dict[str, dict[str, tuple[str, str | None]]] = {"streets": {}, "departments": {}}
        for version_id in version_ids:
            labels = self.case_labels(version_id)
            for kind, names in SCOPE_FIELDS.items():
                for name in names:
                    for value, label in (labels.get(name) or {}).get("options", {}).items():
                        found[kind].setdefault(value, (label[0], label[1]))
        return found


def admits(info: dict, user: str, groups: set[str]) -> bool:
    """May the user start the process ``info`` (``VersionFacts.start_info``) describes?"""
    return contracts.StartFacts(tuple(info["starter_groups"]), tuple(info["starter_users"])).admits(user, groups)


def _option_index(labels: dict[str, dict]) -> dict[str, tuple]:
    """Option values across a version's fields with the label the first field gives them (a street's id)."""
    index: dict[str, tuple] = {}
    for entry in labels.values():
        for value, option in (entry.get("options") or {}).items():
            index.setdefault(value, tuple(option))
    return index


def _version_of(session: Session, instance_id: int | None, task_id: str | None) -> int:
    if task_id is not None:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        return row.version_id
    if instance_id is not None:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            raise NotFound(f"no instance {instance_id}")
        return instance.version_id
    raise InvalidInput("name a version, an instance or a task")
