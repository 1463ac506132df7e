"""The page's overview and traffic screenshots over the demo's data.

Start the demo (`./target/release/mna-demo`), wait until its first catch-up
is done (a few seconds), then, with Debian's chromium and chromium-driver and
`pip install selenium`:

    python3 docs/screenshots/demo_screenshots.py http://127.0.0.1:PORT/ docs/screenshots

It saves overview.png, traffic-month.png (daily-per-device, this month) and
traffic-day.png (hourly-all, yesterday in its zone). calendar.png is saved by
tests/it/web_browser.rs (target/web-screenshots/).
"""

import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def main(url: str, out: str) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1400,1000"]:
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        d.get(url)
        WebDriverWait(d, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cards > *")) > 0)
        time.sleep(2)
        d.find_element(By.ID, "overview").screenshot(f"{out}/overview.png")
        Select(d.find_element(By.ID, "tr-job")).select_by_value("daily-per-device")
        time.sleep(2)
        d.find_element(By.ID, "tr-view-month").click()
        time.sleep(2)
        d.find_element(By.ID, "traffic").screenshot(f"{out}/traffic-month.png")
        Select(d.find_element(By.ID, "tr-job")).select_by_value("hourly-all")
        time.sleep(2)
        d.find_element(By.ID, "tr-view-day").click()
        time.sleep(2)
        d.find_element(By.ID, "tr-prev").click()  # yesterday: a whole day
        time.sleep(2)
        d.find_element(By.ID, "traffic").screenshot(f"{out}/traffic-day.png")
    finally:
        d.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
