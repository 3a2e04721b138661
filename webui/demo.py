"""The demo logins shown by `make run`, on the sign-in page in demo mode, and in the README's tour."""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.store.db import PROJECT_ROOT

DEMO_PASSWORD = "whistle-demo"
# (role, role in English, account, what they find)
DEMO_ROLES = [
    ("网格员", "grid worker", "grid-worker-wudadao", "发起 → 上报问题；驳回告知、代居民评价"),
    ("街道指挥中心", "street command centre", "command-wudadao", "组任务：指挥中心审核（吹哨）、街道核验"),
    ("部门联络员", "department liaison", "liaison-housing", "组任务：签收哨令、到场报到、牵头部门处置"),
    ("部门联络员", "department liaison", "liaison-fire", "被吹哨的协同部门（消防）"),
    ("部门联络员", "department liaison", "liaison-police", "只看得到公安参与的案件"),
    ("区委督查室", "district supervisor", "supervisor", "逾期未报到时：区委督查室督办；可查看全部案件"),
    ("居民", "resident", "resident-a", "居民评价（上报时填了 resident-a 的案件）"),
    ("流程设计人员", "process designer", "designer", "流程定义与表单预览"),
    ("系统管理员", "administrator", "admin", "全部案件、故障、演示时钟"),
]


def accounts_file() -> Path:
    return Path(os.environ.get("WHISTLE_DEMO_ACCOUNTS") or PROJECT_ROOT / "processes" / "demo-accounts.json")


def demo_logins() -> list[dict]:
    """The demo roles whose accounts are listed in the demo accounts file."""
    try:
        users = {u["username"] for u in json.loads(accounts_file().read_text(encoding="utf-8")).get("users", [])}
    except (OSError, ValueError):
        return []
    return [{"role": role, "role_en": role_en, "username": name, "finds": finds}
            for role, role_en, name, finds in DEMO_ROLES if name in users]


def banner(url: str) -> str:
    lines = ["", f"Sign in at {url}login with a demo account (password: {DEMO_PASSWORD}):"]
    for entry in demo_logins():
        lines.append(f"  {entry['username']:<22} {entry['role_en']:<22} {entry['finds']}")
    lines.append("")
    lines.append("Move the demo clock: WHISTLE_MODE=demo .venv/bin/whistle clock advance PT31M"
                 "  (or as admin: 管理 → 演示时钟)")
    return "\n".join(lines)
