"""The case dossier (办理档案, issue 18): one PDF per case with the case data, the diagram, the tasks, the
attachments and the audit trail with its hash chain. It verifies offline and against the record, and stops
verifying — naming the row and the field — once one audit row is changed in the database or the dossier's
manifest is edited. A reader's dossier holds what their case page shows (ADR 9). SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlalchemy import text
from test_audiences import NAMES, page_as, rated_red_whistle

from cli.main import run
from engine.audit import dossier as manifests
from engine.audit import keys
from webui import create_app
from webui.demo import DEMO_PASSWORD
from webui.staff.dossier import read_manifest


@pytest.fixture
def case(whistle, manual_clock):
    """A red whistle: the fire brigade late, supervised and held to account; the resident rates it."""
    return rated_red_whistle(whistle, manual_clock)


@pytest.fixture(autouse=True)
def audit_key(monkeypatch, tmp_path):
    """A key file of this test's own (as tests/test_security_audit.py), so nothing touches the project's var/."""
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    monkeypatch.delenv(keys.OLD_KEYS_ENV, raising=False)
    monkeypatch.setenv(keys.KEY_FILE_ENV, str(tmp_path / "keys" / "audit_key"))
    keys.reset_cache()
    yield tmp_path / "keys" / "audit_key"
    keys.reset_cache()


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def verify(capsys, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = run(["audit", "verify-dossier", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def with_manifest(content: bytes, manifest: dict) -> bytes:
    """The PDF with its embedded manifest replaced (what someone editing a dossier would do)."""
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(content)).pages:
        writer.add_page(page)
    writer.add_attachment(manifests.ATTACHMENT_NAME, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_dossier_verifies_and_fails_naming_the_row_once_the_record_is_changed(case, db_url, tmp_path, capsys,
                                                                               monkeypatch):
    district, instance = case
    photo = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 60, 40)).save(photo, "PNG")
    district.w.attachments_dir = tmp_path / "attachments"
    monkeypatch.setenv("WHISTLE_ATTACHMENTS_DIR", str(tmp_path / "attachments"))  # for the command line
    district.w.add_attachment("command-wudadao", "现场照片.png", photo.getvalue(), instance_id=instance)
    path = tmp_path / "dossier.pdf"
    assert run(["dossier", str(instance), "--out", str(path), "--db", db_url]) == 0
    content = path.read_bytes()
    written = pdf_text(content)
    # The district's full record, in Chinese (the font embedded): data, tasks, the internal notes, the chain.
    for shown in ("办理档案", "睦南道12号", "居民反映的问题", "屋顶已修复", "约谈支队负责人", "到场报到", "留痕记录与哈希链",
                  NAMES["liaison-housing"]):
        assert shown in written, shown
    assert "现场照片.png" in written
    assert sum(len(page.images) for page in PdfReader(io.BytesIO(content)).pages) == 1  # the photo, embedded
    manifest = read_manifest(content)
    events = district.w.show(instance)["audit"]
    assert [r["id"] for r in manifest["rows"]] == [e["id"] for e in events]
    with district.w.db.read() as session:
        head, hashes = session.execute(text("SELECT audit_head FROM process_instance WHERE id = :i"),
                                       {"i": instance}).scalar(), \
            [h for (h,) in session.execute(text("SELECT hash FROM audit_event WHERE instance_id = :i ORDER BY id"),
                                           {"i": instance})]
    assert manifest["head"] == head and [r["hash"] for r in manifest["rows"]] == hashes
    assert manifest["head"] in written and manifest["digest"] in written.replace("\n", "")
    assert not any("withheld" in r for r in manifest["rows"])  # nothing is hidden from the district

    code, offline = verify(capsys, str(path))
    assert code == 0 and offline["ok"], offline
    assert any("signatures" in c for c in offline["checked"])
    code, against = verify(capsys, str(path), "--db", db_url)
    assert code == 0 and against["ok"] and any("database" in c for c in against["checked"]), against

    # One audit row changed in the database: the dossier no longer matches, and the report names the row.
    handled = next(e for e in events if e["event"] == "task_completed" and e["details"].get("name") == "牵头部门处置")
    with district.w.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET details = REPLACE(details, '屋顶已修复', '屋顶未修复') WHERE id = :id"),
                     {"id": handled["id"]})
    code, report = verify(capsys, str(path), "--db", db_url)
    assert code == 7 and not report["ok"]
    assert (report["row_id"], report["field"]) == (handled["id"], "details"), report
    assert "屋顶已修复" in report["reason"] and "屋顶未修复" in report["reason"]
    capsys.readouterr()
    assert run(["audit", "verify-dossier", str(path), "--db", db_url]) == 7
    assert f"row {handled['id']}" in capsys.readouterr().out
    assert verify(capsys, str(path))[0] == 0  # the dossier itself is as it was handed out


def test_an_edited_dossier_fails_offline(case, tmp_path, capsys):
    district, instance = case
    content = district_pdf(district, instance)
    manifest = read_manifest(content)
    row = next(r for r in manifest["rows"] if r["event"] == "task_completed")
    edited = json.loads(json.dumps(manifest))
    next(r for r in edited["rows"] if r["id"] == row["id"])["actor"] = "someone-else"
    path = tmp_path / "edited.pdf"
    path.write_bytes(with_manifest(content, edited))
    code, report = verify(capsys, str(path))
    assert code == 7 and report["field"] == "digest"  # the digest printed on the first page no longer matches
    edited["digest"] = manifests.digest_of(edited)  # a careful forger recomputes it: the signature still tells
    path.write_bytes(with_manifest(content, edited))
    code, report = verify(capsys, str(path))
    assert code == 7 and (report["row_id"], report["field"]) == (row["id"], "hash"), report
    shortened = json.loads(json.dumps(manifest))
    shortened["rows"] = shortened["rows"][:-1]  # the last rows left out
    shortened["digest"] = manifests.digest_of(shortened)
    path.write_bytes(with_manifest(content, shortened))
    code, report = verify(capsys, str(path))
    assert code == 7 and report["field"] == "head", report


def test_without_the_audit_key_offline_checks_the_digest_only(case, tmp_path, capsys, monkeypatch):
    district, instance = case
    path = tmp_path / "dossier.pdf"
    path.write_bytes(district_pdf(district, instance))
    monkeypatch.setenv(keys.KEY_FILE_ENV, str(tmp_path / "elsewhere" / "audit_key"))
    keys.reset_cache()
    code, report = verify(capsys, str(path))
    assert code == 0 and report["notes"] == ["no audit key here: signatures, links and the head were not checked"]
    assert not (tmp_path / "elsewhere").exists()  # checking never creates a key
    not_a_dossier = tmp_path / "plain.pdf"
    not_a_dossier.write_bytes(b"%PDF-1.4 nothing")
    assert run(["audit", "verify-dossier", str(not_a_dossier)]) == 1


def district_pdf(district, instance: int) -> bytes:
    from webui.staff.dossier import dossier_pdf

    return dossier_pdf(district.w, None, instance)


def test_a_residents_dossier_holds_what_their_case_page_shows(case, tmp_path):
    district, instance = case
    app = create_app({"ENGINE": district.w, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "files")})
    page = page_as(app, "resident-a", f"/cases/{instance}")
    assert "下载办理档案" in page
    http = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True)).group(1)
    http.post("/login", data={"username": "resident-a", "password": DEMO_PASSWORD, "csrf_token": token})
    response = http.get(f"/cases/{instance}/dossier.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    written = pdf_text(response.data)
    for shown in ("居民反映的问题", "睦南道12号", "屋顶已修复"):
        assert shown in written, shown
    for hidden in ("指挥中心内部意见", "约谈支队负责人", "红色哨令逾期未到场", NAMES["command-wudadao"],
                   NAMES["liaison-housing"], NAMES["supervisor"]):
        assert hidden not in written, hidden
    manifest = read_manifest(response.data)
    assert manifest["audience"] == "resident"
    assert "约谈支队负责人" not in json.dumps(manifest, ensure_ascii=False)
    withheld = [r for r in manifest["rows"] if "withheld" in r]
    assert all(not set(r["withheld"]) & set(r) for r in withheld)  # what is withheld is not there
    assert any(r["withheld"] == list(manifests.CONTENT_FIELDS) for r in withheld)  # internal events: hashes only
    assert any(r["withheld"] == ["actor"] for r in withheld)  # a staff member's step: not their name
    assert district.w.verify_dossier(manifest).ok  # what the resident holds still checks against the record

    district.w.add_user("outsider", ["residents"], password=DEMO_PASSWORD)
    stranger = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', stranger.get("/login").get_data(as_text=True)).group(1)
    stranger.post("/login", data={"username": "outsider", "password": DEMO_PASSWORD, "csrf_token": token})
    assert stranger.get(f"/cases/{instance}/dossier.pdf").status_code in (403, 404)
