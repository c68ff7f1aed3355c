"""The operator's serial console through the unmodified `baremetal` CLI.

A lab node gets the `ipmi-proxy` console; `baremetal node console show` gives a
`tcp://` URL; a plain socket (what `socat - TCP:host:port` is) reads the boot log
after power-on and types a line the simulated server echoes.  The console proxy
is a separate `ironic-ipmiproxy` process here (`[ipmi] console_proxy_urls`), so
the test can restart it: the conductor's reconcile task
(`[conductor] console_reconcile_interval`) restores the console on the same URL
and records it in the node's history.
"""
from __future__ import annotations

import signal
import uuid

import pytest

from conftest import SerialViewer, running_lab, wait_for
from ipmiproxy import ProxyDaemon, free_port_below_ephemeral, process_gone

NODE = "lab-node-0"
PROXY_PORT = free_port_below_ephemeral()
PROXY_TOKEN = uuid.uuid4().hex

# Read by conftest's ironic_server fixture.
IRONIC_OPTIONS = {
    "ipmi": {"console_proxy_urls": f"http://127.0.0.1:{PROXY_PORT}", "console_proxy_auth_token": PROXY_TOKEN},
    "conductor": {"console_reconcile_interval": "1"},
}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    daemon = ProxyDaemon(tmp_path_factory.mktemp("ipmiproxy"), PROXY_PORT, PROXY_TOKEN)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def lab(ironic_server, proxy, tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), ironic_server.endpoint) as directory:
        yield directory


def _wait_power(cli, state: str) -> None:
    wait_for(lambda: cli.json("node", "show", NODE),
             lambda n: n["target_power_state"] is None and n["power_state"] == state, f"{NODE} to reach {state}")


def _console(cli) -> dict:
    return cli.json("node", "console", "show", NODE)


@pytest.mark.incremental
class TestConsoleThroughTheCLI:
    url: str = ""

    def test_set_the_console_interface(self, cli, lab):
        cli.run("node", "power", "off", NODE)
        _wait_power(cli, "power off")
        cli.run("node", "set", NODE, "--console-interface", "ipmi-proxy")
        assert cli.json("node", "show", NODE)["console_interface"] == "ipmi-proxy"

    def test_enable_and_show(self, cli, lab):
        cli.run("node", "console", "enable", NODE)
        shown = wait_for(lambda: _console(cli), lambda c: c["console_enabled"], f"the console of {NODE}")
        info = shown["console_info"]
        assert info["type"] == "socat", shown
        assert info["url"].startswith("tcp://127.0.0.1:"), shown
        TestConsoleThroughTheCLI.url = info["url"]

    def test_watch_it_boot_and_type(self, cli, lab):
        viewer = SerialViewer(self.url)
        try:
            cli.run("node", "power", "on", NODE)
            assert viewer.wait_for(f"{NODE} login: ", timeout=90), viewer.text[-2000:]
            assert "SeaBIOS" in viewer.text and "Linux version" in viewer.text, viewer.text[-2000:]
            assert viewer.type_until_echoed(f"operator-{uuid.uuid4().hex[:8]}"), viewer.text[-2000:]
        finally:
            viewer.close()
        _wait_power(cli, "power on")

    def test_the_console_survives_a_proxy_restart(self, cli, lab, proxy):
        node = cli.json("node", "show", NODE)
        console_id = node["driver_internal_info"]["ipmi_proxy_console_id"]
        worker = proxy.console(console_id)["pid"]
        assert worker and not process_gone(worker)
        viewer = SerialViewer(self.url)
        before = {e["uuid"] for e in cli.json("node", "history", "list", NODE)}
        try:
            # The operator restarts the proxy service: the daemon and its workers end.
            proxy.stop(signal.SIGTERM)
            viewer.wait_for("\x00never\x00", timeout=30)
            assert viewer.closed, "the TCP viewer was not disconnected when the proxy stopped"
            wait_for(lambda: process_gone(worker), bool, f"console worker {worker} to end", timeout=30)
        finally:
            viewer.close()
        proxy.start()

        # The conductor notices and starts the console again, on the same TCP port.
        entries = wait_for(lambda: cli.json("node", "history", "list", NODE),
                           lambda es: any("Console restored" in e["event"] for e in es if e["uuid"] not in before),
                           "a 'Console restored' history entry", timeout=90)
        assert any(e["severity"] == "INFO" for e in entries if "Console restored" in e["event"]), entries
        shown = _console(cli)
        assert shown["console_enabled"] and shown["console_info"]["url"] == self.url, shown
        restored = cli.json("node", "show", NODE)["driver_internal_info"]["ipmi_proxy_console_id"]
        assert proxy.console(restored)["state"] in ("starting", "running"), proxy.log_tail()

        viewer = SerialViewer(self.url)
        try:
            assert viewer.type_until_echoed(f"after-restart-{uuid.uuid4().hex[:8]}"), viewer.text[-2000:]
        finally:
            viewer.close()

    def test_disable(self, cli, lab, proxy):
        cli.run("node", "console", "disable", NODE)
        wait_for(lambda: _console(cli), lambda c: not c["console_enabled"], f"the console of {NODE} to be disabled")
