"""Heartbeating stand-ins for deploy ramdisks, for the ansible deploy tests and benchmarks.

A node deployed with the ``ansible`` deploy interface needs from its ramdisk only what the
agent's REST calls give the conductor (docs/deploy.md): a lookup, which hands out the agent
token, and heartbeats, whose ``callback_url`` host is where Ansible reaches the ramdisk over
SSH. Everything else (writing the image, cleaning) is Ansible's, over SSH, against a
simulated ramdisk of ssh_targets.py.

One thread per node, every ``interval`` seconds and at once when its node's state changed:

* the node counts as booted into its ramdisk while its provision state is one of
  ``RAMDISK_STATES`` (``clean wait``, ``wait call-back``, ``cleaning``, ``deploying``); the
  states come from ONE node listing every ``state_poll`` (0.5) seconds for all nodes (a
  shared poller thread), as a real ramdisk asks the API nothing of the kind;
* booted without a token, it looks its node up (``GET /v1/lookup?addresses=MAC&node_uuid=``,
  API 1.68) and keeps ``config.agent_token``;
* then it heartbeats (``POST /v1/heartbeat/<uuid>``). A 400 or 401 about the token (the
  ramdisk's work ended, or a new boot began, and the conductor wiped it; the next boot must
  look up again) drops the token, and the stand-in looks up and heartbeats once more at once;
* a node out of those states has no ramdisk running: its token is forgotten.

Usage::

    with RamdiskStandIns(endpoint, [StandInNode(uuid, mac, ssh_port=t.port) for ...]) as standins:
        ...                                   # provide, deploy
        standins.nodes[0].heartbeats          # counts, errors per node

Every HTTP call has a timeout, every thread stops within ``interval`` + the timeout of
``stop()``, and the whole run stops by itself after ``max_seconds``.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

RAMDISK_STATES = frozenset({"clean wait", "wait call-back", "cleaning", "deploying"})
LOOKUP_VERSION = "1.68"
AGENT_VERSION = "13.0.0"
HTTP_TIMEOUT = 10.0


@dataclass
class StandInNode:
    """One node's stand-in ramdisk; the counters are written by its thread only."""

    uuid: str
    mac: str
    # The callback_url's port: the agent API's, which the ansible deploy never calls. Its
    # host (127.0.0.1) is where the conductor's Ansible reaches the ramdisk's sshd (at
    # driver_info.ansible_port).
    agent_port: int = 9999
    # Called with (node, provision state) right before each heartbeat; a test may stop the
    # node's sshd there.
    before_heartbeat: Callable[["StandInNode", str], None] | None = None

    token: str | None = None
    lookups: int = 0
    heartbeats: int = 0          # answered 202
    token_refusals: int = 0      # 400/401 about the token
    busy: int = 0                # 409: the node was locked
    errors: list[str] = field(default_factory=list)
    # Provision states in which a heartbeat was accepted, in order, without repeats.
    heartbeat_states: list[str] = field(default_factory=list)

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}"

    def note(self, message: str) -> None:
        self.errors.append(f"{time.strftime('%H:%M:%S')} {message}")
        del self.errors[:-20]


class RamdiskStandIns:
    """Stand-in ramdisks for ``nodes`` against the API at ``endpoint`` (http://127.0.0.1:PORT)."""

    def __init__(self, endpoint: str, nodes: list[StandInNode], interval: float = 1.0,
                 max_seconds: float = 1800.0, state_poll: float = 0.5):
        self.endpoint = endpoint.rstrip("/")
        self.nodes = list(nodes)
        self.interval = interval
        # How often the nodes' states are listed: how soon a node's "ramdisk boots".
        self.state_poll = min(state_poll, interval)
        self.max_seconds = max_seconds
        self._states: dict[str, str] = {}
        self._states_lock = threading.Lock()
        self._stop = threading.Event()
        # Set when a node's state changed: its thread acts at once (a ramdisk heartbeats as
        # soon as it has booted), not at its next tick.
        self._changed = {node.uuid: threading.Event() for node in self.nodes}
        self._threads: list[threading.Thread] = []
        self.poll_errors = 0

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> "RamdiskStandIns":
        self._deadline = time.monotonic() + self.max_seconds
        self._threads.append(threading.Thread(target=self._poll_states, name="standin-states", daemon=True))
        for node in self.nodes:
            self._threads.append(threading.Thread(target=self._run, args=(node,), name=f"standin-{node.uuid[:8]}",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = HTTP_TIMEOUT + 5) -> None:
        self._stop.set()
        for changed in self._changed.values():
            changed.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def alive_threads(self) -> list[str]:
        """Names of this group's threads still running (none after ``stop()``)."""
        return [t.name for t in self._threads if t.is_alive()]

    def __enter__(self) -> "RamdiskStandIns":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def state(self, uuid: str) -> str | None:
        with self._states_lock:
            return self._states.get(uuid)

    # -- HTTP ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None,
                 version: str | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={"Accept": "application/json"})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if version:
            request.add_header("X-OpenStack-Ironic-API-Version", version)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    # -- the threads --------------------------------------------------------------------

    def _poll_states(self) -> None:
        wanted = {node.uuid for node in self.nodes}
        while self._running():
            started = time.monotonic()
            try:
                found = self._list_states(wanted)
                with self._states_lock:
                    previous, self._states = self._states, found
                for node in self.nodes:
                    if found.get(node.uuid) != previous.get(node.uuid):
                        self._changed[node.uuid].set()
            except (OSError, ValueError, KeyError):
                self.poll_errors += 1
            self._stop.wait(max(0.05, self.state_poll - (time.monotonic() - started)))

    def _list_states(self, wanted: set[str]) -> dict[str, str]:
        """Provision states of the ``wanted`` nodes, following ``next`` links (a few pages at most)."""
        found: dict[str, str] = {}
        path: str | None = "/v1/nodes?fields=uuid,provision_state"
        for _ in range(100):
            if path is None:
                break
            status, body = self._request("GET", path, version=LOOKUP_VERSION)
            if status != 200:
                raise ValueError(f"node listing: HTTP {status}")
            page = json.loads(body)
            found.update({n["uuid"]: n["provision_state"] for n in page["nodes"] if n["uuid"] in wanted})
            following = page.get("next")
            path = None
            if following:
                parts = urllib.parse.urlsplit(following)
                path = parts.path + ("?" + parts.query if parts.query else "")
        return found

    def _run(self, node: StandInNode) -> None:
        changed = self._changed[node.uuid]
        while self._running():
            started = time.monotonic()
            changed.clear()
            state = self.state(node.uuid)
            try:
                if state in RAMDISK_STATES:
                    self._round(node, state)
                else:
                    node.token = None  # powered off: the next boot looks up again
            except (OSError, ValueError) as e:
                node.note(f"{type(e).__name__}: {e}")
            changed.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _round(self, node: StandInNode, state: str) -> None:
        # A token refused at once looks up again in the same round: a lookup made in
        # `deploying` or `cleaning` may have come before the conductor booted the ramdisk,
        # which wiped that token.
        for _ in range(2):
            if node.token is None and not self._lookup(node):
                return
            if node.before_heartbeat is not None:
                node.before_heartbeat(node, state)
            status, body = self._request("POST", f"/v1/heartbeat/{node.uuid}", {
                "callback_url": node.callback_url, "agent_token": node.token, "agent_version": AGENT_VERSION,
            }, version=LOOKUP_VERSION)
            if status == 202:
                node.heartbeats += 1
                if not node.heartbeat_states or node.heartbeat_states[-1] != state:
                    node.heartbeat_states.append(state)
            elif status in (400, 401) and b"token" in body.lower():
                node.token_refusals += 1
                node.token = None
                continue
            elif status == 409:
                node.busy += 1
            else:
                node.note(f"heartbeat in {state}: HTTP {status} {body[:300]!r}")
            return

    def _lookup(self, node: StandInNode) -> bool:
        query = urllib.parse.urlencode({"addresses": node.mac, "node_uuid": node.uuid})
        status, body = self._request("GET", f"/v1/lookup?{query}", version=LOOKUP_VERSION)
        if status != 200:
            if status != 404:  # 404: not (or no longer) in a ramdisk state
                node.note(f"lookup: HTTP {status} {body[:300]!r}")
            return False
        token = json.loads(body).get("config", {}).get("agent_token")
        node.lookups += 1
        if not token or token == "******":
            # Handed out already, to a boot this stand-in does not know of.
            node.note(f"lookup gave no token ({token!r})")
            return False
        node.token = token
        return True
