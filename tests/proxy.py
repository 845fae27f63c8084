"""A TCP proxy that cuts the connection once, in the middle of whatever is on its way: how a phone on a bad network
loses an upload. A routed abort in the browser would drop whole requests and test nothing. Used by the browser test
of resumable uploads and by bench/resumable.py."""

import contextlib
import socket
import threading


class CuttingProxy:
    """Forwards connections to 127.0.0.1:``server_port``; once ``cut_at`` bytes have gone from clients to the
    server in all, closes both sides of that connection, once."""

    def __init__(self, server_port: int, cut_at: int | None = None):
        self.server_port, self.cut_at = server_port, cut_at
        self.forwarded = 0
        self.cut = False
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.server_port))
            threading.Thread(target=self.pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source, target, upward: bool) -> None:
        try:
            while data := source.recv(65536):
                if upward:
                    with self.lock:
                        if self.cut_at is not None and not self.cut and self.forwarded + len(data) >= self.cut_at:
                            keep = self.cut_at - self.forwarded
                            target.sendall(data[:keep])
                            self.forwarded += keep
                            self.cut = True
                            for s in (source, target):
                                s.shutdown(socket.SHUT_RDWR)
                            return
                        self.forwarded += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self.listener.close()
