"""A lean Redis client for the API's hot path: one asyncio connection, commands pipelined in order.

Every request of a feed costs one GET (its list) and one HMGET (the real-time overlay). Through redis-py's
asyncio client each command also pays its connection-pool checkout, retry wrapper and per-command objects,
which cost more CPU than everything else the request does. ``RespClient`` queues each command on one
connection, writes the commands of one turn of the event loop together, and hands replies back in order
(hiredis parses them), so concurrent requests share the connection and pipeline naturally. A lost connection
fails the commands in flight with ConnectionError (an OSError) and the next command connects again; time limits
are the caller's (``asyncio.timeout``). Replies that are Redis errors raise ``RespError``. hiredis is imported
when a client is built.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import unquote, urlparse


class RespError(Exception):
    """Redis answered a command with an error reply."""


def _pack(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self):
        import hiredis

        self.reader, self.pending, self.transport = hiredis.Reader(), deque(), None
        self.error_type = hiredis.ReplyError
        self.outgoing: list[bytes] = []  # commands of this turn of the event loop, written together

    def flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.transport is not None:
            self.transport.write(data)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.pending.popleft()
            if future.done():  # its caller gave up (timeout): the reply is dropped, order is kept
                continue
            if isinstance(reply, self.error_type):
                future.set_exception(RespError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc) -> None:
        self.transport = None
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"redis connection lost: {exc or 'closed'}"))


class RespClient:
    def __init__(self, url: str, *, connect_timeout_s: float = 0.25):
        u = urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        self.db = int(u.path.strip("/") or 0)
        self.password = unquote(u.password) if u.password else None
        self.username = unquote(u.username) if u.username else None
        self.connect_timeout_s = connect_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connected(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.transport is None:
                loop = asyncio.get_running_loop()
                _, protocol = await asyncio.wait_for(loop.create_connection(_Protocol, self.host, self.port),
                                                     self.connect_timeout_s)
                setup = ([("AUTH", *([self.username] if self.username else []), self.password)] if self.password
                         else []) + ([("SELECT", self.db)] if self.db else [])
                for command in setup:
                    await self._send(protocol, command)
                self._protocol = protocol
        return self._protocol

    @staticmethod
    def _send(protocol: _Protocol, args: tuple) -> asyncio.Future:
        """Queue the command; the commands of one turn of the event loop go out in one write (one system call
        for all the requests that turn served)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        protocol.pending.append(future)
        if not protocol.outgoing:
            loop.call_soon(protocol.flush)
        protocol.outgoing.append(_pack(args))
        return future

    async def call(self, *args):
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            protocol = await self._connected()
        return await self._send(protocol, args)

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
