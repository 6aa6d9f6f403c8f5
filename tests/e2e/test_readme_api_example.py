"""The README's read-API example, tried on the shell's demo data as a reader would: it
lists experiments rather than an empty page."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime
from tests.e2e.test_shell import NOW

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r'"https://mlgov\.example\.com(/api/v1/experiments\?[^"]*owner=[^"]*)"')


def test_the_readme_owner_filter_example_finds_the_demos_experiments(demo_url: str) -> None:
    [path] = EXAMPLE.findall(README.read_text(encoding="utf-8"))
    owner = re.search(r"owner=(\w+)", path)
    assert owner is not None
    runtime = Runtime.create(
        Settings(database_url=demo_url, timezone="Europe/Berlin", api_read_token="read"),
        clock=lambda: NOW,
    )
    try:
        answer = runtime.web_app().test_client().get(path, headers={"Authorization": "Bearer read"})
    finally:
        runtime.close()
    assert answer.status_code == 200, answer.json
    items = answer.json["items"]
    assert items, f"{path} lists nothing on the demo"
    assert {item["owner"] for item in items} == {owner.group(1)}
