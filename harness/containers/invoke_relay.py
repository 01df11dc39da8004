"""The relay the harness runs beside an invoke server: a Unix socket in, the server's port out.

It runs in the harness's own helper container, which joins the participant container's network
namespace (``network_mode="container:<id>"``; that namespace holds only loopback). It listens on
a Unix socket in a folder the harness mounts (never the participant's), and connects each
connection it accepts to ``127.0.0.1:<port>``, copying bytes both ways until either side closes.
The harness thus talks HTTP to the server from the host, through a file, while the participant's
container keeps no network interface. A connection the server refuses (it is not listening yet)
is closed at once, which the harness reads as "not healthy yet". No connection outlives the
harness's side of it, nor its limit (the longest request the harness makes, plus a margin): a
server that holds a connection open, silent or dripping bytes, holds none of the relay's threads.

Standard library only: it runs as ``python3 -S -I invoke_relay.py SOCKET PORT LIMIT_S`` on the
project's base image, never imported by the harness.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading

__all__ = ["main"]


def _pump(src: socket.socket, dest: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dest.sendall(data)
    except OSError:
        pass  # either side went away: the other is told below
    finally:
        with contextlib.suppress(OSError):  # already closed
            dest.shutdown(socket.SHUT_WR)


def _cut(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _serve(conn: socket.socket, port: int, limit_s: float) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        conn.close()
        return
    upstream.settimeout(None)
    # Past its limit the connection is cut both ways, whatever the server still sends.
    timer = threading.Timer(limit_s, _cut, args=(conn, upstream))
    timer.daemon = True
    timer.start()
    back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
    back.start()
    _pump(conn, upstream)
    # The harness never half-closes: its side ending ends the request, so the server's side is
    # cut too rather than left to a server that never closes it.
    _cut(upstream)
    back.join()
    timer.cancel()
    conn.close()
    upstream.close()


def main(argv: list[str]) -> int:
    """Relay ``argv[0]`` (a Unix socket path to create) to ``127.0.0.1:argv[1]``.

    Each connection is cut after ``argv[2]`` seconds.
    """
    path, port, limit_s = argv[0], int(argv[1]), float(argv[2])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)  # the harness's user (or root) only
    server.listen(16)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn, port, limit_s), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
