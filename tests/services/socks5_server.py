"""A real SOCKS5 proxy on loopback for tests: RFC 1928 CONNECT with RFC 1929 username/password.

Small on purpose (no UDP, no BIND), but a real proxy over TCP: the client speaks SOCKS5 to it
and it relays bytes to the target. It counts what it sees, and can be stopped (listener closed,
relayed connections cut, as a dying proxy does) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections import Counter


class Socks5Server:
    def __init__(self, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.username = username
        self.password = password
        self.host = host
        self.port = 0
        self.counters: Counter[str] = Counter()
        self.targets: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"socks5://{self.username}:{self.password}@{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Die: refuse new connections and cut the relayed ones."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._live):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["accepted"] += 1
        self._live.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if version != 5 or 2 not in methods:
                writer.write(b"\x05\xff")  # no acceptable method: we require a password
                self.counters["refused_method"] += 1
                return
            writer.write(b"\x05\x02")
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            if (user, password) != (self.username, self.password):
                writer.write(b"\x01\x01")
                self.counters["bad_credentials"] += 1
                return
            writer.write(b"\x01\x00")
            _, cmd, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif atyp == 4:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            else:
                (n,) = await reader.readexactly(1)
                host = (await reader.readexactly(n)).decode()
            (port,) = struct.unpack(">H", await reader.readexactly(2))
            if cmd != 1:
                writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
                return
            try:
                up_reader, upstream = await asyncio.open_connection(host, port)
            except OSError:
                writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                return
            self.counters["connected"] += 1
            self.targets.append((host, port))
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._live.discard(writer)
            for w in (writer, upstream):
                if w is not None:
                    w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
