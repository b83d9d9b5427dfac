"""A small OpenAI chat-completions server for the tests (the real protocol, streaming
included, on localhost). Its "model" is deterministic:

* it answers with the first sentence of the first passage it was given, then adds one
  sentence no article supports ("The moon is made of green cheese.");
* it is gullible: if a passage says "ignore previous instructions", it obeys and answers
  only "HACKED." — what a weak model might do;
* if no passage is given, it says the articles don't answer;
* ``server.script``, when a test sets it, is what it says instead.

``server.requests`` keeps every request body, ``server.keys`` its Authorization header, so
tests can check what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fake_model(messages: list[dict]) -> str:
    user = messages[-1]["content"]
    passages = re.findall(r"<passage [^>]*>\n(.*?)\n</passage>", user, re.S)
    if not passages:
        return "The articles don't answer this."
    if any("ignore previous instructions" in p.lower() for p in passages):
        return "HACKED."
    first = re.split(r"(?<=[.!?])\s+", passages[0].strip())[0]
    return f"{first} [1] The moon is made of green cheese."


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.keys.append(self.headers.get("Authorization"))
        text = self.server.script or fake_model(body["messages"])
        base = {"id": "chatcmpl-1", "created": int(time.time()), "model": body.get("model", "fake")}
        if not body.get("stream"):
            payload = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = re.findall(r"\S+\s*", text)
        try:
            for n, piece in enumerate(pieces):
                time.sleep(self.server.delay)
                delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
                chunk = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            done = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a cancelled answer): stop streaming, as a server does


def start() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []
    server.keys = []  # the Authorization header of each request
    server.delay = 0.0  # seconds between streamed tokens
    server.script = None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
