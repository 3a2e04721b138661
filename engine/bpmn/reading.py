"""Reading BPMN and DMN text: the one hardened XML parser (deploy, lint and the spec cache all read through
it), validation against the BPMN 2.0 XSD, and which files are BPMN or DMN."""
from __future__ import annotations

import os
import re

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import XSD_PATH
from SpiffWorkflow.spiff.parser.process import SPIFF_XSD

from engine.bpmn.namespaces import BPMN_NS, SPIFF_NS


def file_kind(path: str) -> str | None:
    """``bpmn`` or ``dmn`` by the file's name; None for any other file."""
    ext = os.path.splitext(path)[1].lower()
    return {".bpmn": "bpmn", ".dmn": "dmn"}.get(ext)


# ---------------------------------------------------------------------------------------------------------
# XSD validation, built once per process (building the schema costs a few milliseconds).

class SchemaValidator:
    """Validates a BPMN document against the BPMN 2.0 XSD and reports *every* error, not just the last."""

    def __init__(self) -> None:
        with open(XSD_PATH, "rb") as xsd:
            schema = etree.parse(xsd)
        imported = etree.Element("{http://www.w3.org/2001/XMLSchema}import",
                                 namespace=SPIFF_NS, schemaLocation=SPIFF_XSD)
        schema.getroot().insert(0, imported)
        self._schema = etree.XMLSchema(schema)

    def errors(self, document: etree._ElementTree) -> list[tuple[int, str]]:
        _retag_correlation_expressions(document)
        if self._schema.validate(document):
            return []
        return [(error.line, _tidy_xsd_message(error.message)) for error in self._schema.error_log]


def _retag_correlation_expressions(document) -> None:
    # bpmn-js writes correlation retrieval expressions in a form the XSD rejects; SpiffWorkflow rewrites it too.
    for expr in document.xpath(".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
                               namespaces={"bpmn": BPMN_NS}):
        expr.tag = f"{{{BPMN_NS}}}messagePath"


def _tidy_xsd_message(message: str) -> str:
    return message.replace(f"{{{BPMN_NS}}}", "bpmn:")


_validator: SchemaValidator | None = None


def schema_validator() -> SchemaValidator:
    global _validator
    if _validator is None:
        _validator = SchemaValidator()
    return _validator


# ---------------------------------------------------------------------------------------------------------
# The one way BPMN and DMN text becomes a tree: deploy, lint and the spec cache all read through it.

class XmlRefused(ValueError):
    """A BPMN/DMN document Whistle will not read; ``line`` is where (1-based), when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_DECLARED_ENCODING = re.compile(r"""^\ufeff?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def _xml_parser() -> etree.XMLParser:
    # Decoded as UTF-8 whatever the declaration says (the text was read as UTF-8); no DTD is loaded, no
    # entity resolved, nothing fetched; no tree deeper or text longer than libxml2's default limits.
    return etree.XMLParser(encoding="utf-8", resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def _doctype_line(text: str) -> int | None:
    """The line of a ``<!DOCTYPE`` before the root element, or None. A DTD is only allowed there."""
    index, length = 0, len(text)
    while index < length:
        if text[index] in " \t\r\n\ufeff":
            index += 1
        elif text.startswith("<?", index):
            end = text.find("?>", index)
            index = length if end < 0 else end + 2
        elif text.startswith("<!--", index):
            end = text.find("-->", index)
            index = length if end < 0 else end + 3
        elif text.startswith("<!", index):
            return text.count("\n", 0, index) + 1  # <!DOCTYPE, in any spelling the parser would reach
        else:
            return None  # the root element (or something the parser will call malformed)
    return None


def read_xml(content: str) -> etree._ElementTree:
    """Parse BPMN/DMN text with the hardened parser. Raises :class:`XmlRefused` for a DOCTYPE (any DTD,
    entity declaration or external reference) and for an encoding declaration other than UTF-8 on text
    that is not plain ASCII (the file was read as UTF-8, so its names would be garbled);
    ``etree.XMLSyntaxError`` for malformed XML."""
    line = _doctype_line(content)
    if line is not None:
        raise XmlRefused("a DOCTYPE declaration is not allowed in BPMN or DMN files (no DTDs, entities or "
                         "external references are read): remove the <!DOCTYPE …> block", line)
    declared = _DECLARED_ENCODING.match(content)
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES and not content.isascii():
        raise XmlRefused(f'the XML declaration says encoding="{declared.group(1)}", but the file is UTF-8 (Whistle '
                         f'reads BPMN and DMN files as UTF-8), so its Chinese names would be misread: change the '
                         f'declaration to encoding="UTF-8"', 1)
    tree = etree.ElementTree(etree.fromstring(content.encode("utf-8"), _xml_parser()))
    if tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise XmlRefused("a DOCTYPE declaration is not allowed in BPMN or DMN files", 1)
    return tree
