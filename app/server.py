"""`dbaas serve`: waitress, in one process or several sharing one listening socket.

Python runs one thread at a time per process: to use every core, N worker processes
(forked after the socket is bound, each with its own app and database engine) serve
the same socket. The parent only supervises them by PID: a signal to it stops them
all, and when one dies the others are stopped too (the caller restarts the service).
"""

import contextlib
import os
import signal
import socket
import sys


def _serve(sock: socket.socket, threads: int) -> None:
    import waitress

    from app import create_app

    waitress.serve(create_app(), sockets=[sock], threads=threads, ident="dbaas")


def serve(host: str, port: int, threads: int, workers: int) -> None:
    sock = socket.create_server((host, port), reuse_port=False, backlog=1024)
    if workers <= 1:
        _serve(sock, threads)
        return
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                _serve(sock, threads)
            finally:
                os._exit(0)
        children.append(pid)

    def stop(*_args) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    signal.signal(signal.SIGINT, lambda *_: (stop(), sys.exit(0)))
    try:
        os.wait()  # the first child to end ends the service
    finally:
        stop()
        for child in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
    sys.exit(1)
