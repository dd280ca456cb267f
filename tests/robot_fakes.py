"""Local fakes of the DingTalk, WeCom and Feishu group robots: real HTTP servers on 127.0.0.1.

Each checks a request as the platform documents it — the signature (DingTalk: HMAC-SHA256 of
"timestamp\\nsecret" keyed by the secret, in the query; Feishu: keyed by "timestamp\\nsecret" over an
empty message, in the body), the custom keyword, the byte limit and the per-minute (Feishu also
per-second) rate — answers with the platform's own error codes (HTTP 200 with a non-zero errcode/code),
and records what it accepted. The rate is counted on an injected clock, shared with the client's
limiter, so a test can simulate minutes in milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeClock:
    """Monotonic time that only moves when something sleeps on it."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def wall(self) -> float:
        return 1_790_000_000.0 + self.now


class Robot:
    """One group robot of one platform."""

    LIMITS = {"dingtalk": (20, None, 20000), "wecom": (20, None, 4096), "feishu": (100, 5, 20 * 1024)}

    def __init__(self, kind: str, secret: str = "", keyword: str = "", clock: FakeClock | None = None):
        self.kind, self.secret, self.keyword = kind, secret, keyword
        self.clock = clock or FakeClock()
        self.accepted: list[dict] = []
        self.refusals: list[dict] = []
        self.times: list[float] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.delay = 0.0

    @property
    def url(self) -> str:
        host, port = self.server.server_address
        path = {"dingtalk": "/robot/send?access_token=t0k", "wecom": "/cgi-bin/webhook/send?key=k3y",
                "feishu": "/open-apis/bot/v2/hook/h00k"}[self.kind]
        return f"http://{host}:{port}{path}"

    def start(self) -> "Robot":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the platform's rules -----------------------------------------------------------------
    def answer(self, query: dict, body: dict, raw: bytes) -> dict:
        per_minute, per_second, limit = self.LIMITS[self.kind]
        now = self.clock()
        recent = [t for t in self.times if now - t < 60]
        if self.kind == "dingtalk":
            if self.secret:
                ts = query.get("timestamp", [""])[0]
                want = base64.b64encode(hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
                if query.get("sign", [""])[0] != want:
                    return {"errcode": 310000, "errmsg": "sign not match"}
            content = json.dumps(body.get("markdown", body.get("text", {})), ensure_ascii=False)
            if self.keyword and self.keyword not in content:
                return {"errcode": 310000, "errmsg": "keywords not in content"}
            if len(raw) > limit:
                return {"errcode": 460101, "errmsg": "message too long"}
            if len(recent) >= per_minute:
                return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            return {"errcode": 0, "errmsg": "ok"}
        if self.kind == "wecom":
            kind = body.get("msgtype")
            content = body.get(kind, {}).get("content", "")
            if len(content.encode("utf-8")) > (2048 if kind == "text" else limit):
                return {"errcode": 40058, "errmsg": f"{kind}.content exceed max length"}
            if len(recent) >= per_minute:
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            return {"errcode": 0, "errmsg": "ok"}
        if self.secret:
            ts = body.get("timestamp", "")
            want = base64.b64encode(hmac.new(f"{ts}\n{self.secret}".encode(), b"", hashlib.sha256).digest()).decode()
            if body.get("sign") != want:
                return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
        if self.keyword and self.keyword not in json.dumps(body.get("content", {}), ensure_ascii=False):
            return {"code": 19024, "msg": "Key Words Not Found"}
        if len(raw) > limit:
            return {"code": 9499, "msg": "Bad Request: request body too large"}
        if len(recent) >= per_minute or len([t for t in recent if now - t < 1]) >= per_second:
            return {"code": 11232, "msg": "frequency limited psm"}
        return {"code": 0, "msg": "success", "data": {}}

    def _handler(self):
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = json.loads(raw.decode("utf-8"))
                if robot.delay:
                    import time
                    time.sleep(robot.delay)
                reply = robot.answer(query, body, raw)
                code = reply.get("errcode", reply.get("code"))
                if code == 0:
                    robot.times.append(robot.clock())
                    robot.accepted.append(body)
                else:
                    robot.refusals.append(reply)
                out = json.dumps(reply).encode()
                self.send_response(200)  # the platforms answer 200 with an error code
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        return Handler
