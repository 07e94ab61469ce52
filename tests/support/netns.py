"""Worker "hosts" in their own Linux network namespaces, for multi-host tests (needs root).

Each host is a namespace joined to the root namespace by a veth pair on a /30 the test picks
(10.213.<k>.0/30). PostgreSQL and Redis listen on 127.0.0.1 only, so a small TCP forwarder
(this file run as a script) listens on each host's root-side address and relays to loopback.
`cut()` takes the host's link down: its connections hang as on a real network partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    probe = f"otest-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(command, check=True, capture_output=True)


@dataclass
class Host:
    """One namespace: `address` is the root side (where services are forwarded)."""

    name: str
    index: int
    forwarder: subprocess.Popen[bytes] | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"10.213.{self.index}.1"

    @property
    def inside(self) -> str:
        return f"10.213.{self.index}.2"

    @property
    def veth(self) -> str:
        return f"vo{os.getpid() % 100000}h{self.index}"

    def create(self, ports: list[int]) -> Host:
        _ip("netns", "add", self.name)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _ip("addr", "add", f"{self.address}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("addr", "add", f"{self.inside}/30", "dev", "eth0", ns=self.name)
        _ip("link", "set", "eth0", "up", ns=self.name)
        _ip("link", "set", "lo", "up", ns=self.name)
        self.forwarder = subprocess.Popen(
            [sys.executable, __file__, self.address, *map(str, ports)],
            stdout=subprocess.PIPE,
        )
        assert self.forwarder.stdout is not None
        self.forwarder.stdout.readline()  # "ready"
        return self

    def run(
        self, args: list[str], env: dict[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *args], env=env, cwd=cwd, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def cut(self) -> None:
        """The host's network goes away (no RST: its packets are simply lost)."""
        _ip("link", "set", self.veth, "down")

    def destroy(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if self.forwarder is not None:
            self.forwarder.kill()
            self.forwarder.wait()
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _forward(address: str, ports: list[int]) -> None:
    async def handler_for(port: int) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # A host whose link is cut stops answering: notice within seconds and close the
            # upstream side too, as the server would see a dead client of its own.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        return await asyncio.start_server(handle, address, port)

    servers = [await handler_for(port) for port in ports]
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_forward(sys.argv[1], [int(p) for p in sys.argv[2:]]))
    time.sleep(0)
