"""Serve the built single-page app as its hosts do (Azure Static Web Apps' navigationFallback):
a path that names no file, such as /monitor, gets index.html, and the page picks its view.

    python3 scripts/serve_spa.py <directory> <port>
"""

import functools
import http.server
import sys
from pathlib import Path


class SpaHandler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        last = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not path.exists() and "." not in last:
            self.path = "/index.html"
        return super().send_head()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    directory, port = sys.argv[1], int(sys.argv[2])
    handler = functools.partial(SpaHandler, directory=directory)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
