"""The console page in a real browser (Debian's headless Chromium).

`ironic standalone` runs its own console proxy; a lab node gets the `ipmi-proxy`
console through the unmodified `baremetal` CLI.  Chromium opens the page the
proxy serves (`/consoles/{id}?token=`, xterm.js from Debian's packages), then:

* the lab server reboots and its boot log, printed on its serial port, appears
  in the page's terminal;
* keys typed into the page (DevTools key events, as a user's) reach the serial
  port: the simulated server echoes them, and the echo is in the terminal and in
  the console log the proxy keeps (read through our API, which only ever holds
  what came from the BMC).
"""
from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest

from chromium import HeadlessChromium
from conftest import running_lab, wait_for

NODE = "lab-node-0"


@pytest.fixture(scope="module")
def lab(ironic_server, tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), ironic_server.endpoint) as directory:
        yield directory


@pytest.fixture(scope="module")
def console(cli, lab):
    cli.run("node", "set", NODE, "--console-interface", "ipmi-proxy")
    cli.run("node", "console", "enable", NODE)
    wait_for(lambda: cli.json("node", "console", "show", NODE), lambda c: c["console_enabled"],
             f"the console of {NODE} to be enabled")
    yield
    cli.run("node", "console", "disable", NODE)


@pytest.fixture()
def browser(tmp_path):
    chromium = HeadlessChromium(tmp_path)
    chromium.start()
    try:
        yield chromium
    finally:
        chromium.stop()


def _page_text(page) -> str:
    return page.evaluate("window.consoleText ? window.consoleText() : ''") or ""


def test_console_page_shows_the_boot_log_and_takes_keys(ironic_server, cli, console, browser):
    node = cli.json("node", "show", NODE)
    page_url = node["driver_internal_info"].get("ipmi_proxy_page_url")
    assert page_url and "token=" in page_url, node["driver_internal_info"]
    page = browser.open_page(page_url)
    try:
        page.wait_for("document.body.dataset.state === 'connected'", "the page's WebSocket to connect")

        # (a) The boot log: reboot the lab server while the page watches.
        cli.run("node", "reboot", NODE)
        page.wait_for("window.consoleText().indexOf('SeaBIOS') >= 0", "the firmware banner in the terminal", timeout=90)
        text = page.wait_for(f"window.consoleText().indexOf('{NODE} login:') >= 0 && window.consoleText()",
                             "the login prompt in the terminal", timeout=90)
        assert "Linux version" in text, text

        # (b) Keys: type a line the serial port has never seen; its echo must come back.
        marker = f"typed-in-chromium-{uuid.uuid4().hex[:8]}"
        page.evaluate("window.consoleTerminal.focus()")
        echoed = False
        for _ in range(5):  # the lab's SOL may drop the first keystroke of a session
            page.type("\r" + marker + "\r")
            try:
                page.wait_for(f"window.consoleText().indexOf('{marker}') >= 0", "the typed line's echo", timeout=15)
                echoed = True
                break
            except AssertionError:
                continue
        assert echoed, _page_text(page)[-2000:]
    finally:
        page.close()

    # The proxy's console log holds only bytes from the BMC: the line went through the serial port.
    request = urllib.request.Request(f"{ironic_server.endpoint}/v1/nodes/{NODE}/console/log",
                                     headers={"X-OpenStack-Ironic-API-Version": "1.78"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        log = resp.read().decode(errors="replace")
    assert marker in log, log[-2000:]
    assert "SeaBIOS" in log


def test_the_page_refuses_a_wrong_token(cli, console):
    node = cli.json("node", "show", NODE)
    page_url = node["driver_internal_info"]["ipmi_proxy_page_url"]
    wrong = page_url.split("token=")[0] + "token=" + uuid.uuid4().hex
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 401
