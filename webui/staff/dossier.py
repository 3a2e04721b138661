"""The case dossier (办理档案) as a PDF: the case data, the diagram with the case's path coloured, every task
(who, when, the deadline, what was submitted), the attachments (photos embedded), and the audit trail with its hash
chain and head. The manifest of the chain (``engine.audit.dossier``) is embedded as the file
``whistle-dossier.json``, so ``whistle audit verify-dossier FILE.pdf`` — or anyone following docs/dossier.md —
can check the dossier against the record.

Drawn server-side with reportlab, the diagram from the BPMN file's DI coordinates (boxes, circles, diamonds,
arrows), with a CJK TrueType font embedded (Debian's fonts-wqy-microhei, ``make install``; or
``WHISTLE_PDF_FONT``). The content is what the case page shows its reader (``Whistle.dossier``: the audience
rules of ADR 9), written through the same ``Presenter`` and timeline."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from lxml import etree
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from reportlab.graphics.shapes import Circle, Drawing, Group, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from engine.api import Whistle
from engine.audit.dossier import ATTACHMENT_NAME
from engine.errors import InvalidInput, WhistleError
from webui.i18n import gettext as _
from webui.staff import values
from webui.staff.display import SYSTEM_ACTORS, local_time
from webui.staff.timeline import timeline

FONT_NAME = "WhistleCJK"
FONT_CANDIDATES = (  # Debian's packages; WHISTLE_PDF_FONT names another TTF/TTC
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
STATE_COLOURS = {  # fill, stroke of an element by its state (engine.casework.diagrams)
    "done": ("#dcf0dc", "#2e7d32"), "active": ("#ffe9b3", "#e65100"), "timer": ("#dbe9fb", "#1565c0"),
    "waiting": ("#dbe9fb", "#1565c0"), "incident": ("#fbdada", "#c62828"),
}
PLAIN = ("#ffffff", "#555555")
THUMBNAIL = 52 * mm
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
DI = "{http://www.omg.org/spec/DD/20100524/DI}"


class NoChineseFont(WhistleError):
    """No CJK font to embed: the dossier would not read."""


def chinese_font() -> str:
    """Register (once) and name the CJK font the dossier embeds."""
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    configured = os.environ.get("WHISTLE_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            pdfmetrics.registerFont(TTFont(FONT_NAME, candidate, subfontIndex=0))
            return FONT_NAME
    raise NoChineseFont("no Chinese font for the dossier: install fonts-wqy-microhei (make install) or set "
                        "WHISTLE_PDF_FONT to a TTF/TTC file")


def case_presenter(w: Whistle, shown: dict) -> tuple[values.Presenter, dict[str, str]]:
    """The presenter of a case's data as the case page builds it (labels, group and people names, the
    attachments the data names), and the people's names."""
    labels = w.case_labels(shown["version_id"])
    groups = w.group_labels()
    data = shown["data"]
    attachments = {a["attachment_id"]: a for a in shown["attachments"]}
    attachments.update(w.attachments_by_id([v for v in values.strings_in(data) if v not in attachments]))
    names = [e["actor"] for e in shown["audit"]] + [shown["started_by"]] + list(values.strings_in(data))
    people = w.user_labels(names + [t["assignee"] for t in shown["open_tasks"]])
    return values.Presenter(labels, groups, people, attachments), people


def render(w: Whistle, contents: dict) -> bytes:
    """The PDF of a dossier (``Whistle.dossier``), its manifest embedded."""
    font = chinese_font()
    presenter, people = case_presenter(w, contents)
    styles = _styles(font)
    story: list[Any] = []
    story += _cover(contents, styles)
    story += _data_section(w, contents, presenter, styles)
    story += _diagram_section(w, contents, styles, font)
    story += _tasks_section(contents, presenter, people, styles)
    story += _attachments_section(contents, people, styles)
    story += _audit_section(w, contents, presenter, styles)
    buffer = io.BytesIO()
    manifest = contents["manifest"]
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                                 bottomMargin=15 * mm, title=_("办理档案") + f" #{contents['instance_id']}",
                                 author="Whistle", subject=manifest["digest"])

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(15 * mm, 8 * mm, f"{_('办理档案')} #{contents['instance_id']} · {_('清单摘要')} "
                                            f"{manifest['digest'][:16]} · {doc.page}")
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return _with_manifest(buffer.getvalue(), manifest)


def read_manifest(content: bytes, source: str = "the file") -> dict:
    """The manifest a dossier PDF embeds; ``InvalidInput`` naming ``source`` when it is no dossier."""
    try:
        reader = PdfReader(io.BytesIO(content))
        found = reader.attachments.get(ATTACHMENT_NAME)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise InvalidInput(f"{source} is not a readable PDF: {exc}") from exc
    if not found:
        raise InvalidInput(f"{source} has no embedded {ATTACHMENT_NAME}: it is not a Whistle dossier")
    try:
        return json.loads(found[0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the {ATTACHMENT_NAME} in {source} is not JSON: {exc}") from exc


def _with_manifest(pdf: bytes, manifest: dict) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(ATTACHMENT_NAME, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    writer.add_metadata({"/WhistleDossier": manifest["digest"], "/WhistleCase": str(manifest["instance_id"])})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- sections -------------------------------------------------------------------------------------------------

def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=12.5, wordWrap="CJK")
    return {"body": base, "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9),
            "hash": ParagraphStyle("hash", parent=base, fontSize=6, leading=7.5, wordWrap="CJK"),
            "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, spaceAfter=6),
            "h2": ParagraphStyle("h2", parent=base, fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=4)}


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    escaped = str(text if text is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(escaped.replace("\n", "<br/>"), style)


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#bbbbbb")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table


def _who(actor: object, people: dict[str, str]) -> str:
    if actor in SYSTEM_ACTORS:
        return _(SYSTEM_ACTORS[actor])  # type: ignore[index]
    return people.get(str(actor), str(actor))


def _cover(contents: dict, styles: dict) -> list[Any]:
    manifest = contents["manifest"]
    status = {"running": _("办理中"), "completed": _("已办结"), "suspended": _("已挂起"),
              "terminated": _("已终止")}.get(contents["status"], contents["status"])
    facts = [
        (_("案件编号"), f"#{contents['instance_id']}"), (_("案件"), contents.get("title") or ""),
        (_("流程"), f"{contents.get('process_name') or contents['process_id']} · v{contents['version']}"),
        (_("状态"), status), (_("发起时间"), local_time(contents["started_at"])),
        (_("办结时间"), local_time(contents["completed_at"]) if contents.get("completed_at") else "—"),
        (_("档案生成时间"), local_time(manifest["generated_at"])),
        (_("读者范围"), contents["audience"]),
        (_("留痕记录"), str(len(manifest["rows"]))), (_("链头"), manifest.get("head") or "—"),
        (_("清单摘要（SHA-256）"), manifest["digest"]),
    ]
    rows = [[_p(k, styles["body"]), _p(v, styles["body"])] for k, v in facts]
    return [_p(_("办理档案") + " · Case dossier", styles["title"]), _table(rows, [38 * mm, 142 * mm], header=False),
            Spacer(1, 4 * mm),
            _p(_("本档案内嵌机器可读清单 whistle-dossier.json（留痕记录的哈希链与链头）。核验：whistle audit "
                 "verify-dossier 文件.pdf（离线）或加 --db（与数据库记录比对），方法见 docs/dossier.md。"),
               styles["small"])]


def _data_section(w: Whistle, contents: dict, presenter: values.Presenter, styles: dict) -> list[Any]:
    data = contents["data"]
    fields = w.case_fields(contents["version_id"])
    names = [k for k in fields if k in data] + [k for k in data if k not in fields and presenter.is_labelled(k)]
    rows = [[_p(_("项目"), styles["body"]), _p(_("内容"), styles["body"])]]
    for name in names:
        if data.get(name) in values.EMPTY:
            continue
        rows.append([_p(presenter.label(name), styles["body"]),
                     _p(presenter.summary(name, data[name], limit=600), styles["body"])])
    story: list[Any] = [_p(_("案件信息"), styles["h2"])]
    story.append(_table(rows, [45 * mm, 135 * mm]) if len(rows) > 1 else _p(_("无"), styles["body"]))
    return story


def _diagram_section(w: Whistle, contents: dict, styles: dict, font: str) -> list[Any]:
    xml = contents.get("diagram_xml")
    story: list[Any] = [PageBreak(), _p(_("流程图（办理路径）"), styles["h2"])]
    drawing = diagram_drawing(xml, contents.get("states") or {}, font, 180 * mm, 225 * mm) if xml else None
    if drawing is None:
        return story + [_p(_("无"), styles["body"])]
    legend = "　".join(f"■ {label}" for label in (_("已完成环节"), _("正在办理"), _("等待计时"), _("故障")))
    return story + [drawing, Spacer(1, 2 * mm), _p(legend, styles["small"])]


def _tasks_section(contents: dict, presenter: values.Presenter, people: dict[str, str], styles: dict) -> list[Any]:
    rows = [[_p(h, styles["small"]) for h in (_("环节"), _("办理人"), _("创建"), _("时限"), _("完成"), _("提交内容"))]]
    for task in contents["tasks"]:
        who = _who(task["completed_by"], people) if task["completed_by"] else \
            "、".join(presenter.groups.get(g, g) for g in task["groups"]) or _who(task["assignee"], people)
        submitted = [f"{presenter.label(k)}：{presenter.summary(k, v, limit=200)}"
                     for k, v in (task["data"] or {}).items() if presenter.is_labelled(k) and v not in values.EMPTY]
        done = local_time(task["completed_at"]) if task["completed_at"] else \
            (_("已取消") if task["cancelled_at"] else _("办理中"))
        rows.append([_p(task["name"] or "", styles["small"]), _p(who, styles["small"]),
                     _p(local_time(task["created_at"]) if task["created_at"] else "", styles["small"]),
                     _p(local_time(task["due_at"]) if task["due_at"] else "—", styles["small"]),
                     _p(done, styles["small"]), _p("\n".join(submitted) or "—", styles["small"])])
    story: list[Any] = [PageBreak(), _p(_("办理环节"), styles["h2"])]
    if len(rows) == 1:
        return story + [_p(_("无"), styles["body"])]
    return story + [_table(rows, [28 * mm, 26 * mm, 24 * mm, 24 * mm, 24 * mm, 54 * mm])]


def _attachments_section(contents: dict, people: dict[str, str], styles: dict) -> list[Any]:
    story: list[Any] = [_p(_("附件"), styles["h2"])]
    attachments = contents["attachments"]
    if not attachments:
        return story + [_p(_("无"), styles["body"])]
    for a in attachments:
        text = (f"{a['file_name']}（{a['content_type']}，{a['size']} B）\n"
                f"{_('上传')}：{_who(a['uploaded_by'], people)} {local_time(a['uploaded_at'])}\nSHA-256 {a['sha256']}")
        cells: list[Any] = [_p(text, styles["small"])]
        path = contents["files"].get(a["attachment_id"])
        image = _thumbnail(path) if path else None
        story.append(KeepTogether([_table([[image or _p("—", styles["small"]), cells[0]]],
                                          [THUMBNAIL + 4 * mm, 180 * mm - THUMBNAIL - 4 * mm], header=False),
                                   Spacer(1, 2 * mm)]))
    return story


def _thumbnail(path: str) -> Image | None:
    try:
        width, height = ImageReader(path).getSize()
    except (OSError, ValueError):
        return None  # a missing or unreadable file is listed without its picture
    scale = min(THUMBNAIL / width, THUMBNAIL / height, 1.0)
    return Image(path, width=width * scale, height=height * scale)


def _audit_section(w: Whistle, contents: dict, presenter: values.Presenter, styles: dict) -> list[Any]:
    manifest = contents["manifest"]
    sentences = {e["id"]: row for e, row in zip(contents["audit"],
                                                timeline(contents["audit"], presenter,
                                                         w.element_names(contents["version_id"])), strict=True)}
    rows = [[_p(h, styles["small"]) for h in ("#", _("时间 · 办理人 · 事件"), _("哈希 · 前一哈希 · 密钥"))]]
    for entry in manifest["rows"]:
        said = sentences.get(entry["id"])
        if said is None:
            text = _("（内部记录，不向本读者显示）")
        else:
            text = f"{local_time(said['at'])} · {said['who']} · {said['text']}" + \
                   (f"\n{said['extra']}" if said["extra"] else "")
        chained = f"{entry['hash']}\n← {entry['prev_hash']}\nkey {entry.get('key_id') or '—'} · id {entry['id']}"
        rows.append([_p(entry["seq"], styles["small"]), _p(text, styles["small"]), _p(chained, styles["hash"])])
    return [PageBreak(), _p(_("留痕记录与哈希链"), styles["h2"]), _table(rows, [9 * mm, 88 * mm, 83 * mm]),
            Spacer(1, 3 * mm), _p(f"{_('链头')}：{manifest.get('head') or '—'}", styles["body"]),
            _p(f"{_('清单摘要（SHA-256）')}：{manifest['digest']}", styles["body"])]


# -- the diagram from the BPMN DI -----------------------------------------------------------------------------

def diagram_drawing(xml: str, states: dict[str, dict], font: str, width: float, height: float) -> Drawing | None:
    """The case's diagram drawn from its DI (shapes and edges), each element coloured by its state; flows
    between elements the case passed are drawn in green. Rotated a quarter turn when that fits it larger."""
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return None
    kinds: dict[str, tuple[str, str]] = {}
    flows: dict[str, tuple[str | None, str | None]] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(BPMN) and element.get("id"):
            kind = etree.QName(element).localname
            kinds[element.get("id")] = (kind, element.get("name") or _annotation_text(element))
            if kind == "sequenceFlow":
                flows[element.get("id")] = (element.get("sourceRef"), element.get("targetRef"))
    shapes, edges = [], []
    for shape in root.iter(f"{BPMNDI}BPMNShape"):
        bounds = shape.find(f"{DC}Bounds")
        if bounds is not None:
            shapes.append((shape.get("bpmnElement"), *(float(bounds.get(k, 0)) for k in ("x", "y", "width", "height"))))
    for edge in root.iter(f"{BPMNDI}BPMNEdge"):
        points = [(float(p.get("x", 0)), float(p.get("y", 0))) for p in edge.findall(f"{DI}waypoint")]
        if len(points) >= 2:
            edges.append((edge.get("bpmnElement"), points))
    if not shapes:
        return None
    xs = [s[1] for s in shapes] + [s[1] + s[3] for s in shapes] + [x for _, ps in edges for x, _y in ps]
    ys = [s[2] for s in shapes] + [s[2] + s[4] for s in shapes] + [y for _, ps in edges for _x, y in ps]
    left, top, right, bottom = min(xs) - 10, min(ys) - 10, max(xs) + 10, max(ys) + 30
    wide, tall = right - left, bottom - top
    rotate = wide > tall and min(height / wide, width / tall) > min(width / wide, height / tall)
    scale = min(height / wide, width / tall) if rotate else min(width / wide, height / tall)
    group = Group()
    passed = {k for k, v in states.items() if v.get("state") in ("done", "active", "timer", "waiting", "incident")}
    for element_id, x, y, w, h in sorted(shapes, key=lambda s: -(s[3] * s[4])):  # pools and lanes first
        kind, name = kinds.get(element_id, ("", ""))
        _draw_shape(group, kind, name, x - left, tall - (y - top) - h, w, h, states.get(element_id), font)
    for element_id, points in edges:
        kind, name = kinds.get(element_id, ("", ""))
        source, target = flows.get(element_id, (None, None))
        taken = source in passed and target in passed and (states.get(source) or {}).get("state") == "done"
        _draw_edge(group, kind, [(x - left, tall - (y - top)) for x, y in points], taken)
    if rotate:
        drawing = Drawing(tall * scale, wide * scale)
        group.transform = (0, -scale, scale, 0, 0, wide * scale)  # a quarter turn clockwise: the start on top
    else:
        drawing = Drawing(wide * scale, tall * scale)
        group.scale(scale, scale)
    drawing.add(group)
    return drawing


def _annotation_text(element: Any) -> str:
    text = element.find(f"{BPMN}text")
    return (text.text or "") if text is not None else ""


def _draw_shape(group: Group, kind: str, name: str, x: float, y: float, w: float, h: float,
                state: dict | None, font: str) -> None:
    fill, stroke = STATE_COLOURS.get((state or {}).get("state", ""), PLAIN)
    fill_colour, stroke_colour = colors.HexColor(fill), colors.HexColor(stroke)
    if kind in ("participant", "lane"):
        group.add(Rect(x, y, w, h, fillColor=None, strokeColor=colors.HexColor("#999999"), strokeWidth=1))
        _label(group, name, x + 4, y + h - 16, 160, font, size=12)
    elif kind.endswith("Event"):
        r = min(w, h) / 2
        group.add(Circle(x + w / 2, y + h / 2, r, fillColor=fill_colour, strokeColor=stroke_colour,
                         strokeWidth=4 if kind == "endEvent" else 1.5))
        _label(group, name, x + w / 2 - 50, y - 14, 100, font, centred=True)
    elif kind.endswith("Gateway"):
        cx, cy = x + w / 2, y + h / 2
        group.add(Polygon([cx, y, x + w, cy, cx, y + h, x, cy], fillColor=fill_colour, strokeColor=stroke_colour,
                          strokeWidth=1.5))
        _label(group, name, cx - 50, y - 14, 100, font, centred=True)
    elif kind == "textAnnotation":
        group.add(PolyLine([x + 12, y + h, x, y + h, x, y, x + 12, y], strokeColor=colors.HexColor("#777777")))
        _label(group, name, x + 4, y + h - 14, w - 6, font, lines=max(1, int(h // 13)))
    elif kind == "subProcess":
        group.add(Rect(x, y, w, h, rx=8, ry=8, fillColor=colors.HexColor(fill) if state else None,
                       strokeColor=stroke_colour, strokeWidth=1.5))
        _label(group, name, x + 6, y + h - 16, w - 12, font)
    elif kind:
        group.add(Rect(x, y, w, h, rx=8, ry=8, fillColor=fill_colour, strokeColor=stroke_colour, strokeWidth=1.5))
        _label(group, name, x + 5, y + h - 18, w - 10, font, lines=max(1, int((h - 8) // 13)), centred=True)


def _draw_edge(group: Group, kind: str, points: list[tuple[float, float]], taken: bool) -> None:
    colour = colors.HexColor("#2e7d32" if taken else "#666666")
    flat = [c for point in points for c in point]
    dashed = kind in ("association", "messageFlow", "dataInputAssociation", "dataOutputAssociation")
    group.add(PolyLine(flat, strokeColor=colour, strokeWidth=2.2 if taken else 1,
                       strokeDashArray=[3, 3] if dashed else None))
    if kind == "sequenceFlow":
        (x1, y1), (x2, y2) = points[-2], points[-1]
        length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-6)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        group.add(Polygon([x2, y2, x2 - 9 * ux + 4 * uy, y2 - 9 * uy - 4 * ux, x2 - 9 * ux - 4 * uy,
                           y2 - 9 * uy + 4 * ux], fillColor=colour, strokeColor=colour))


def _label(group: Group, text: str, x: float, y: float, width: float, font: str, *, size: float = 10,
           lines: int = 3, centred: bool = False) -> None:
    for index, line in enumerate(_wrap(text, width, size, font)[:lines]):
        if centred:
            group.add(String(x + width / 2, y - index * (size + 2), line, fontName=font, fontSize=size,
                             textAnchor="middle"))
        else:
            group.add(String(x, y - index * (size + 2), line, fontName=font, fontSize=size))


def _wrap(text: str, width: float, size: float, font: str) -> list[str]:
    lines, current = [], ""
    for char in " ".join((text or "").split()):
        if pdfmetrics.stringWidth(current + char, font, size) > width and current:
            lines.append(current)
            current = char.lstrip()
        else:
            current += char
    return lines + ([current] if current else [])


def dossier_pdf(w: Whistle, user: str | None, instance_id: int) -> bytes:
    """The dossier of a case as ``user`` may read it (None: the district's full record), as a PDF."""
    return render(w, w.dossier(user, instance_id))
