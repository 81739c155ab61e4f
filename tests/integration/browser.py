"""Headless Chromium (Debian's chromium + chromium-driver) driven by selenium,
for the Horizon checks. Only the lab's own addresses are visited; Chromium's
background networking is switched off so it sends nothing anywhere else."""

from __future__ import annotations

import shutil
import tempfile

import pytest


def chromium():  # noqa: ANN201 - selenium WebDriver
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("Debian's chromium and chromium-driver are not installed: run `make deps`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp(prefix='rentstack-chromium-')}",
                 "--window-size=1400,1000"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def horizon_login(driver, base: str, user: str, password: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/auth/login/")
    WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "id_username")))
    driver.find_element(By.ID, "id_username").send_keys(user)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], #loginBtn").click()
    WebDriverWait(driver, 60).until(lambda d: "/auth/login" not in d.current_url)
