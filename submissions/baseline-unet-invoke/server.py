"""The invoke server: grand-challenge's HTTP interface around inference.py (standard library only).

At start it calls ``inference.init_model()`` once, then listens on port 4743:

``GET /health``
    200 (the model is loaded: the server only listens once it is).
``POST /invoke``
    Runs ``inference.run(model)`` on the case staged in /input; 201 when the output is written,
    500 with the error's traceback otherwise.

You should not need to change this file: put your method in inference.py.
"""

import http.server
import sys
import time
import traceback

import inference

PORT = 4743

started = time.perf_counter()
MODEL = inference.init_model()
print(f"model loaded in {time.perf_counter() - started:.1f} s", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, code: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, "ok") if self.path == "/health" else self._answer(404)

    def do_POST(self) -> None:
        if self.path != "/invoke":
            return self._answer(404)
        # The request body (if any) is not used: the case is in /input.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            inference.run(MODEL)
        except Exception:
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            return self._answer(500, text)
        self._answer(201)

    def log_message(self, fmt: str, *args: object) -> None:
        print(fmt % args, flush=True)


if __name__ == "__main__":
    # One request at a time, as grand-challenge sends them.
    http.server.HTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
