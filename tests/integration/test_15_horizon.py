"""Horizon in a real browser (headless Chromium): the demo user logs in and
reaches the instances page."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import chromium, horizon_login  # noqa: E402
from runner import Result, lab_secrets_file  # noqa: E402

SECRETS = lab_secrets_file()
HORIZON = "http://10.89.10.11/horizon"


def test_demo_user_reaches_instances_page(site_first: Result, tmp_path: Path) -> None:
    assert site_first.rc == 0, site_first.explain()
    password = yaml.safe_load(SECRETS.read_text())["rentstack_secrets"]["demo"]
    driver = chromium()
    try:
        horizon_login(driver, HORIZON, "demo", password)
        driver.get(f"{HORIZON}/project/instances/")
        assert "/project/instances" in driver.current_url
        assert "Instances" in driver.title or "Instances" in driver.page_source
        driver.save_screenshot(str(tmp_path / "horizon-instances.png"))
    finally:
        driver.quit()
