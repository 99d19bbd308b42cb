"""moto's S3 server, ending each TLS connection cleanly.

Werkzeug's development server closes a connection with `shutdown()` on the SSL socket,
which drops the TLS session without a close_notify alert. OpenSSL 3 clients such as
pgBackRest's then fail with "unexpected eof while reading"; a real S3 endpoint sends the
alert. Run as `python -m tests.support.moto_tls <moto_server arguments>`."""

import contextlib
import ssl
import sys

from moto.server import main
from werkzeug.serving import BaseWSGIServer

_shutdown_request = BaseWSGIServer.shutdown_request


def _shutdown_with_close_notify(self, request):
    if isinstance(request, ssl.SSLSocket):
        with contextlib.suppress(OSError, ValueError):  # the peer went first
            request = request.unwrap()
    _shutdown_request(self, request)


BaseWSGIServer.shutdown_request = _shutdown_with_close_notify

if __name__ == "__main__":
    main(sys.argv[1:])
