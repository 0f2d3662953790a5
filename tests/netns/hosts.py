"""Test hosts on one machine: Linux network namespaces joined by veth pairs to a bridge, each with its own
address, that reach the shared services (PostgreSQL, Redis, the S3 server) only over that network.

PostgreSQL and Redis listen on the root namespace's loopback, which a namespace cannot reach; a TCP relay on
the bridge address passes their traffic on (as a service on another machine would be reached). Nothing else of
the root namespace listens on the bridge address, so a host shares nothing with another but those services.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

SUBNET = "10.231.{}.0/24"


def netns_unavailable() -> str:
    """Why namespaces cannot be made here ('' when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's ip is missing"
    probe = f"sr-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=True)
    return ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Network:
    """A bridge in the root namespace (address .1) and one namespace per host (.2, .3, ...)."""

    tag: str
    octet: int
    hosts: dict[str, str] = field(default_factory=dict)  # name -> address
    _namespaces: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"10.231.{self.octet}.1"

    @property
    def bridge(self) -> str:
        return f"srbr{self.tag}"

    def namespace(self, host: str) -> str:
        return f"sr-{host}-{self.tag}"

    def up(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def host_add(self, name: str) -> str:
        index = len(self.hosts) + 2
        ns, outside, inside = self.namespace(name), f"sr{self.tag}h{index}", f"sr{self.tag}n{index}"
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        address = f"10.231.{self.octet}.{index}"
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inside)
        _ip("-n", ns, "link", "set", inside, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[name] = address
        return address

    def popen(self, host: str, command: list[str], *, env: dict, log_path) -> subprocess.Popen:
        log = open(log_path, "wb")
        return subprocess.Popen(["ip", "netns", "exec", self.namespace(host), *command], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, host: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.namespace(host), *command], **kwargs)

    def down(self) -> None:
        for ns in self._namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def network_create() -> Network:
    # A tag and subnet of this process's own, so that two runs on one machine never meet.
    tag = f"{os.getpid() % 10000}"
    network = Network(tag=tag, octet=os.getpid() % 200 + 20)
    network.up()
    return network


class Relay:
    """Accepts TCP connections on (host, port) and joins each to `target`, both ways, until either side closes."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)
        self.server.settimeout(0.5)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.server.close()


def port_wait(host: str, port: int, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Waits until (host, port) accepts connections; fails early when `process` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited ({process.returncode}) before {host}:{port} answered")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{host}:{port} did not answer within {timeout} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
