"""A stand-in for the local llama.cpp server (`python -m rag.llm.server`), with the same command line.

It takes a moment to load, as the real one does, then binds its port (exiting with llama.cpp's message when the
port is taken), answers /health, and says what it runs on /props, as llama.cpp does."""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rag.llm.model_files import MODEL_NAME
from rag.llm.server import die_with_parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--cache-mb", type=int, default=0)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--load-seconds", type=float, default=1.0)
    p.add_argument("--model", default=f"/models/{MODEL_NAME}.gguf")
    args = p.parse_args()
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    time.sleep(args.load_seconds)
    props = {"model_path": args.model, "default_generation_settings": {"n_ctx": args.ctx}}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps(props if self.path == "/props" else {"status": "ok"}).encode()
            self.send_response(200 if self.path in ("/health", "/props") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    try:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as e:
        print(f"couldn't bind HTTP server socket, hostname: {args.host}, port: {args.port}: {e}", file=sys.stderr)
        sys.exit(1)
    server.serve_forever()


if __name__ == "__main__":
    main()
