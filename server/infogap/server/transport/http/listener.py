"""The HTTP listener: cheroot's threaded WSGI server in a thread of its own, with TLS (and
mutual TLS) from the same ``[auth]`` files as gRPC."""

from __future__ import annotations

import ssl
import threading

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server

from infogap.server.config import AuthSettings
from infogap.server.transport.http.responses import WSGIApp


class HttpListener:
    """Serves ``app`` on ``host:port`` once started; ``port`` is the bound one (useful when 0
    was asked for). ``scheme`` is ``https`` when TLS is configured.

    :raises OSError: when the address cannot be bound (the port is taken, say).
    """

    def __init__(
        self, app: WSGIApp, host: str, port: int, threads: int, auth: AuthSettings
    ) -> None:
        self._server = Server(
            (host.strip("[]"), port), app, numthreads=threads, server_name="infogap"
        )
        self.scheme = "http"
        if auth.tls_cert_file is not None and auth.tls_key_file is not None:
            adapter = BuiltinSSLAdapter(str(auth.tls_cert_file), str(auth.tls_key_file))
            if auth.tls_client_ca_file is not None:
                adapter.context.load_verify_locations(str(auth.tls_client_ca_file))
                adapter.context.verify_mode = ssl.CERT_REQUIRED
            self._server.ssl_adapter = adapter
            self.scheme = "https"
        self._server.prepare()  # binds now, so a taken port fails the server's start
        self.port: int = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name="infogap-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float) -> None:
        """Closes the socket, lets calls in flight finish for ``grace`` seconds, then returns."""
        self._server.shutdown_timeout = grace
        self._server.stop()
        self._thread.join(timeout=grace + 1.0)
