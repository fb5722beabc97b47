"""A fake WeChat API server for tests: real HTTP on a loopback port.

Usage::

    with FakeWeChat(appid="wx-test", secret="s3cret") as fake:
        fake.add_code("code-1", openid="o-abc", unionid="u-abc")
        client = SomeWeChatClient(..., api_base_url=fake.base_url)
        ...
        assert fake.sent[0]["touser"] == "o-abc"

Endpoints (paths relative to ``base_url``, as WeChat's real ones):

* ``GET  sns/jscode2session``           -> openid / session_key / unionid
* ``GET  cgi-bin/token``                -> access_token / expires_in
* ``POST cgi-bin/stable_token``         -> access_token / expires_in
* ``POST cgi-bin/message/subscribe/send`` -> errcode 0 + msgid

Like WeChat, business errors are answered with HTTP 200 and a JSON body
``{"errcode": n, "errmsg": "..."}``.

Fault injection is keyed by endpoint path (leading slash optional):
``fail_next``, ``delay``, ``drop_next``; ``reset()`` clears all state.
"""
from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeWeChat", "RecordedRequest"]

PATH_JSCODE2SESSION = "sns/jscode2session"
PATH_TOKEN = "cgi-bin/token"
PATH_STABLE_TOKEN = "cgi-bin/stable_token"
PATH_SUBSCRIBE_SEND = "cgi-bin/message/subscribe/send"

TOKEN_EXPIRES_IN = 7200

# Subscribe-message value rules, keyed by the data key's prefix
# ("thing1" -> "thing", "character_string12" -> "character_string").
_MAX_LEN = {
    "thing": 20,
    "name": 10,
    "phrase": 5,
    "number": 32,
    "character_string": 32,
    "phone_number": 17,
}
_TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y年%m月%d日", "%Y年%m月%d日 %H:%M")
_KEY_RE = re.compile(r"^([a-z_]+?)(\d*)$")
_MINIPROGRAM_STATES = {"developer", "trial", "formal"}
_LANGS = {"zh_CN", "en_US", "zh_HK", "zh_TW"}

_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    47003: "argument invalid!",
}


def _norm(path: str) -> str:
    return path.lstrip("/")


def _err(errcode: int, errmsg: Optional[str] = None) -> Dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg or _ERRMSG.get(errcode, "error")}


@dataclass
class RecordedRequest:
    method: str
    path: str  # without leading slash, e.g. "cgi-bin/token"
    query: Dict[str, str]  # first value of each query parameter
    json: Any = None  # parsed JSON body (None if no / non-JSON body)
    raw_body: bytes = b""


@dataclass
class _Fault:
    remaining: int
    errcode: Optional[int] = None
    errmsg: Optional[str] = None
    http_status: Optional[int] = None
    drop: bool = False


@dataclass
class _Code:
    openid: str
    unionid: Optional[str]
    session_key: str
    used: bool = False


@dataclass
class _State:
    codes: Dict[str, _Code] = field(default_factory=dict)
    valid_tokens: set = field(default_factory=set)
    expired_tokens: set = field(default_factory=set)
    stable_token: Optional[str] = None
    token_requests: int = 0
    sent: List[dict] = field(default_factory=list)
    refusals: Dict[str, tuple] = field(default_factory=dict)
    faults: Dict[str, List[_Fault]] = field(default_factory=dict)
    delays: Dict[str, list] = field(default_factory=dict)  # path -> [seconds, times|None]
    requests: List[RecordedRequest] = field(default_factory=list)
    demo_prefix: Optional[str] = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, fake: "FakeWeChat"):
        self.fake = fake
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):  # keep stderr quiet
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # no request logging to stderr
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = _norm(split.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = None
        req = RecordedRequest(method, path, query, body, raw)

        action = self.server.fake._handle(req)
        kind = action[0]
        if kind == "drop":
            self._drop()
            return
        status, payload = action[1], action[2]
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # client gave up (e.g. timed out)
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeWeChat:
    """In-process fake of the WeChat API, served over real HTTP on 127.0.0.1."""

    def __init__(self, appid: str = "wx-test-appid", secret: str = "test-app-secret",
                 host: str = "127.0.0.1", port: int = 0):
        self.appid = appid
        self.secret = secret
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._msgids = itertools.count(1000001)
        self._state = _State()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "FakeWeChat":
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="FakeWeChat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "FakeWeChat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """E.g. "http://127.0.0.1:54321/" (trailing slash)."""
        return "http://%s:%d/" % (self._host, self.port)

    # ------------------------------------------------------------ test setup
    def add_code(self, code: str, openid: str, unionid: Optional[str] = None,
                 session_key: Optional[str] = None) -> None:
        """Make ``code`` (single-use) resolve to ``openid``/``unionid`` in jscode2session."""
        with self._lock:
            self._state.codes[code] = _Code(
                openid, unionid, session_key or secrets.token_urlsafe(16))

    def accept_demo_codes(self, prefix: str = "demo-") -> None:
        """Let any code "<prefix><openid>" log in as that openid, as often as it likes."""
        with self._lock:
            self._state.demo_prefix = prefix

    def refuse(self, openid: str, errcode: int = 43101, errmsg: Optional[str] = None) -> None:
        """Subscribe messages to ``openid`` answer ``errcode`` (default: no subscription left)."""
        with self._lock:
            self._state.refusals[openid] = (errcode, errmsg)

    def unrefuse(self, openid: str) -> None:
        with self._lock:
            self._state.refusals.pop(openid, None)

    def issue_token(self) -> str:
        """Create a valid access token directly (not counted in ``token_requests``)."""
        with self._lock:
            tok = "fake-at-" + secrets.token_hex(12)
            self._state.valid_tokens.add(tok)
            return tok

    def expire_tokens(self) -> None:
        """All currently valid tokens now answer errcode 42001."""
        with self._lock:
            st = self._state
            st.expired_tokens |= st.valid_tokens
            st.valid_tokens = set()
            st.stable_token = None

    def fail_next(self, path: str, errcode: int = -1, times: int = 1,
                  http_status: Optional[int] = None, errmsg: Optional[str] = None) -> None:
        """The next ``times`` requests to ``path`` fail.

        Without ``http_status``: HTTP 200 + ``{"errcode": errcode, ...}`` (as WeChat does).
        With ``http_status`` (e.g. 502): that status and a JSON error body.
        Faults queue up per path in FIFO order.
        """
        with self._lock:
            self._state.faults.setdefault(_norm(path), []).append(
                _Fault(times, errcode, errmsg, http_status))

    def drop_next(self, path: str, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` get their connection closed, no answer."""
        with self._lock:
            self._state.faults.setdefault(_norm(path), []).append(_Fault(times, drop=True))

    def delay(self, path: str, seconds: float, times: Optional[int] = None) -> None:
        """Sleep ``seconds`` before answering requests to ``path``
        (``times=None``: until reset; ``seconds=0`` removes the delay)."""
        with self._lock:
            if seconds <= 0:
                self._state.delays.pop(_norm(path), None)
            else:
                self._state.delays[_norm(path)] = [seconds, times]

    def reset(self) -> None:
        """Forget codes, tokens, sent messages, refusals, faults, delays and the request log."""
        with self._lock:
            self._state = _State()

    # ------------------------------------------------------------ inspection
    @property
    def token_requests(self) -> int:
        """Number of access tokens issued (cgi-bin/token + cgi-bin/stable_token)."""
        with self._lock:
            return self._state.token_requests

    @property
    def sent(self) -> List[dict]:
        """Accepted subscribe messages (parsed JSON bodies), oldest first."""
        with self._lock:
            return [dict(m) for m in self._state.sent]

    @property
    def requests(self) -> List[RecordedRequest]:
        """Every request received (including failed/dropped ones), oldest first."""
        with self._lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> List[RecordedRequest]:
        p = _norm(path)
        return [r for r in self.requests if r.path == p]

    @property
    def valid_tokens(self) -> set:
        with self._lock:
            return set(self._state.valid_tokens)

    # ------------------------------------------------------------ internals
    def _handle(self, req: RecordedRequest):
        """Returns ("drop",) or ("answer", http_status, json_payload)."""
        with self._lock:
            self._state.requests.append(req)
            delay = 0.0
            d = self._state.delays.get(req.path)
            if d is not None:
                delay = d[0]
                if d[1] is not None:
                    d[1] -= 1
                    if d[1] <= 0:
                        del self._state.delays[req.path]
            fault = None
            queue = self._state.faults.get(req.path)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
        if delay:
            self._stopping.wait(delay)
        if fault is not None:
            if fault.drop:
                return ("drop",)
            if fault.http_status is not None:
                payload = _err(fault.errcode if fault.errcode is not None else -1,
                               fault.errmsg or "injected HTTP %d" % fault.http_status)
                return ("answer", fault.http_status, payload)
            return ("answer", 200, _err(fault.errcode, fault.errmsg))

        route = {
            ("GET", PATH_JSCODE2SESSION): self._jscode2session,
            ("GET", PATH_TOKEN): self._token,
            ("POST", PATH_STABLE_TOKEN): self._stable_token,
            ("POST", PATH_SUBSCRIBE_SEND): self._subscribe_send,
        }.get((req.method, req.path))
        if route is None:
            return ("answer", 404, _err(-1, "fake: no such endpoint %s %s" % (req.method, req.path)))
        with self._lock:
            return ("answer", 200, route(req))

    def _check_app(self, appid, secret):
        if not appid:
            return _err(41002)
        if not secret:
            return _err(41004)
        if appid != self.appid:
            return _err(40013, "invalid appid")
        if secret != self.secret:
            return _err(40125)
        return None

    def _jscode2session(self, req):
        q = req.query
        bad = self._check_app(q.get("appid"), q.get("secret"))
        if bad:
            return bad
        if q.get("grant_type") != "authorization_code":
            return _err(40002)
        code = q.get("js_code")
        if not code:
            return _err(41008)
        entry = self._state.codes.get(code)
        prefix = self._state.demo_prefix
        if entry is None and prefix and code.startswith(prefix) and len(code) > len(prefix):
            # Demo mode: "<prefix><openid>" always answers for that openid.
            entry = _Code(code[len(prefix):], None, secrets.token_urlsafe(16))
        if entry is None:
            return _err(40029)
        if entry.used:
            return _err(40163)
        entry.used = True
        out = {"openid": entry.openid, "session_key": entry.session_key}
        if entry.unionid:
            out["unionid"] = entry.unionid
        return out

    def _new_token(self):
        tok = "fake-at-" + secrets.token_hex(12)
        self._state.valid_tokens.add(tok)
        self._state.token_requests += 1
        return {"access_token": tok, "expires_in": TOKEN_EXPIRES_IN}

    def _token(self, req):
        q = req.query
        if q.get("grant_type") != "client_credential":
            return _err(40002)
        bad = self._check_app(q.get("appid"), q.get("secret"))
        return bad or self._new_token()

    def _stable_token(self, req):
        b = req.json
        if not isinstance(b, dict):
            return _err(44002) if not req.raw_body else _err(47001)
        if b.get("grant_type") != "client_credential":
            return _err(40002)
        bad = self._check_app(b.get("appid"), b.get("secret"))
        if bad:
            return bad
        st = self._state
        if not b.get("force_refresh") and st.stable_token in st.valid_tokens:
            st.token_requests += 1
            return {"access_token": st.stable_token, "expires_in": TOKEN_EXPIRES_IN}
        out = self._new_token()
        st.stable_token = out["access_token"]
        return out

    def _check_token(self, req):
        tok = req.query.get("access_token")
        if not tok:
            return _err(41001)
        if tok in self._state.valid_tokens:
            return None
        if tok in self._state.expired_tokens:
            return _err(42001)
        return _err(40001)

    def _subscribe_send(self, req):
        bad = self._check_token(req)
        if bad:
            return bad
        b = req.json
        if not isinstance(b, dict):
            return _err(44002) if not req.raw_body else _err(47001)
        touser, template_id, data = b.get("touser"), b.get("template_id"), b.get("data")
        if not touser:
            return _err(40003, "invalid openid")
        if not template_id:
            return _err(40037)
        if not isinstance(data, dict) or not data:
            return _err(47003, "argument invalid! data is empty")
        for key, item in data.items():
            problem = _check_field(key, item)
            if problem:
                return _err(47003, "argument invalid! data.%s.value %s" % (key, problem))
        state = b.get("miniprogram_state")
        if state is not None and state not in _MINIPROGRAM_STATES:
            return _err(47003, "argument invalid! miniprogram_state invalid")
        lang = b.get("lang")
        if lang is not None and lang not in _LANGS:
            return _err(47003, "argument invalid! lang invalid")
        refusal = self._state.refusals.get(touser)
        if refusal:
            return _err(refusal[0], refusal[1])
        msgid = next(self._msgids)
        self._state.sent.append(dict(b, msgid=msgid))
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _check_field(key: str, item: Any) -> Optional[str]:
    """None if ``data[key]`` is acceptable, else a short reason."""
    if not isinstance(item, dict) or "value" not in item:
        return "missing"
    value = item["value"]
    if not isinstance(value, str):
        value = str(value)
    m = _KEY_RE.match(key)
    prefix = m.group(1) if m else key
    if prefix in _MAX_LEN:
        if not value:
            return "is empty"
        if len(value) > _MAX_LEN[prefix]:
            return "exceeds limit %d (got %d chars)" % (_MAX_LEN[prefix], len(value))
        return None
    if prefix in ("time", "date"):
        for fmt in _TIME_FORMATS:
            try:
                datetime.strptime(value, fmt)
                return None
            except ValueError:
                continue
        return "invalid time format"
    return None


def main() -> None:
    """Run the fake on a fixed port for the demo: `python -m tests.fakes.wechat_server`."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--appid", default="wx-demo-appid")
    parser.add_argument("--secret", default="demo-app-secret")
    parser.add_argument("--demo-prefix", default="demo-")
    args = parser.parse_args()
    fake = FakeWeChat(args.appid, args.secret, port=args.port).start()
    fake.accept_demo_codes(args.demo_prefix)
    print(f"fake WeChat on {fake.base_url} (codes '{args.demo_prefix}<openid>' log in)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
