"""Every administrator's page in a real browser (issue 16): Debian's chromium against ``whistle serve`` on a fresh
demo database, at a desk and on a phone — each reads as Chinese for a clerk (no raw JSON, ISO times or stray
English), fits a 390 px screen without sideways scrolling, and runs without a script error; the sub-navigation
reaches each of them. With ``WHISTLE_DOC_SCREENSHOTS=1`` the README's tour pictures are written."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_browser import DESK, PHONE, browser, server, shot, sign_in  # noqa: F401  (fixtures)

from test_readable_pages import assert_readable

PAGES = [  # (the sub-navigation's link id, the page's heading, a README picture)
    ("ops-link", "管理", None),
    ("case-admin-link", "案件管理", "admin-cases"),
    ("batches-link", "批量操作", None),
    ("incidents-link", "故障", None),
    ("upgrade-link", "版本迁移", None),
    ("people-link", "人员账号", "admin-people"),
    ("organisation-link", "组织机构", None),
    ("tokens-link", "接口令牌", None),
    ("calendar-link", "工作日历", None),
]


@pytest.mark.parametrize("viewport", ["desk", "phone"])
def test_every_admin_page_reads_well_and_fits(server, browser, viewport):  # noqa: F811
    size = DESK if viewport == "desk" else PHONE
    page = sign_in(browser, server, "admin", size)
    page.get_by_role("link", name="管理", exact=True).click()
    for link, heading, picture in PAGES:
        page.locator(f"nav.subnav #{link}").click()
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        expect(page.locator(f"nav.subnav #{link}")).to_have_attribute("aria-current", "page")
        assert_readable(page.content(), "zh", f"{heading} in chromium ({viewport})")
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 1, f"{heading}: on a {size['width']} px screen the page is {wider} px too wide"
        if picture:
            shot(page, f"{picture}-{viewport}", doc=f"{picture}-{viewport}" if viewport == "phone" else None)
    assert page.errors == []
