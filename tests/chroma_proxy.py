"""A TCP proxy in front of a real Chroma server, for the tests of a server that hangs or
goes away: it forwards bytes both ways (each request held back ``delay`` seconds: a slow
server) until a request carrying a marker (say b"/query") arrives, then hangs (accepts and
reads, never answers) or dies (drops every connection and stops listening). With no server behind it, it is a server that accepts connections and
never answers."""

from __future__ import annotations

import socket
import threading
import time


class ChromaProxy:
    def __init__(
        self, upstream_port: int | None, hang_on: bytes | None = None, die_on: bytes | None = None, delay: float = 0.0
    ):
        self.upstream_port = upstream_port
        self.delay = delay  # seconds each piece of a request waits before it is passed on: a slow server
        self.hang_on, self.die_on = hang_on, die_on
        self.mode = "forward" if upstream_port else "hang"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed: the server died
            upstream = None
            if self.mode == "forward":
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.sockets += [s for s in (client, upstream) if s is not None]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket | None, from_client: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if from_client and self.hang_on and self.hang_on in data:
                self.mode = "hang"
            if from_client and self.die_on and self.die_on in data:
                self.die()
                return
            if from_client and self.delay:
                time.sleep(self.delay)
            if self.mode == "forward" and target is not None:
                try:
                    target.sendall(data)
                except OSError:
                    return

    def die(self) -> None:
        """Drop every connection and stop listening, as a killed server does."""
        self.mode = "dead"
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.die()
