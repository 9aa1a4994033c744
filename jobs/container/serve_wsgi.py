"""A serving job with no command (FloydHub's convention): ``app`` of ``/code/app.py``, a WSGI
application, answered on ``$PORT`` by the standard library's server, a thread a request.

Only the standard library exists here for certain; a job that wants gunicorn or uvicorn names
it as its command instead (``floe run --mode serve "gunicorn -b 0.0.0.0:$PORT app:app"``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    def address_string(self) -> str:  # no reverse DNS lookup per request
        return self.client_address[0]


def load_app(path: str = "/code/app.py") -> object:
    if not os.path.isfile(path):
        sys.exit("floe: serve mode with no command runs app.py's WSGI `app`; /code has no app.py")
    spec = importlib.util.spec_from_file_location("app", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if not callable(app):
        sys.exit("floe: app.py has no callable `app` (a WSGI application, e.g. Flask(__name__))")
    return app


def main() -> None:
    sys.path.insert(0, "/code")
    port = int(os.environ.get("PORT", "8080"))
    app = load_app()
    server = make_server("0.0.0.0", port, app, ThreadingServer, QuietHandler)
    print(f"floe: serving app.py's `app` on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
