"""The server's request parsing with hostile requests: JSON shapes, form data, query strings, sizes and
encodings. Every answer is LibreTranslate's shape with a 2xx or 4xx status, never a 500 or a dropped
connection, and the server still translates afterwards."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import record_tally
from tests.fuzz.hostile import FUZZ, SCALARS, VALUES, dumps
from tests.serve.test_batching import fake_server  # noqa: F401  (the fixture: a real server, a fake model)

KEYS = st.sampled_from(["q", "source", "target", "format", "alternatives", "api_key", "file"]) | st.text(max_size=8)
PATHS = st.sampled_from(["/translate", "/detect", "/languages", "/translate_file", "/frontend/settings", "/health"])
ALLOWED = {200, 400, 403, 404, 405, 413, 429}


def _text(value) -> str:
    return value if isinstance(value, str) else dumps(value)


@st.composite
def requests(draw):
    fields = draw(st.dictionaries(KEYS, VALUES | st.sampled_from(["en", "xx", "auto", "html", "text", ""]),
                                  max_size=6))
    how = draw(st.sampled_from(["json", "form", "query", "raw", "multipart"]))
    headers = {}
    body, query = b"", ""
    if how == "json":
        body, headers["Content-Type"] = dumps(fields).encode("utf-8", "surrogatepass"), "application/json"
    elif how == "form":
        body = urllib.parse.urlencode({k: _text(v) for k, v in fields.items()}, errors="surrogatepass").encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif how == "query":
        query = "?" + urllib.parse.urlencode({k: _text(v) for k, v in fields.items()}, errors="surrogatepass")
    elif how == "raw":
        body = draw(st.binary(max_size=2000))
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                                        "multipart/form-data", "text/plain", "x/\x7f"]))
    else:
        boundary = "b0undary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{_text(v)}\r\n'
                 for k, v in fields.items() if isinstance(k, str) and '"' not in k and "\r" not in k]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET"]))
    return method, draw(PATHS), query, headers, body, how, draw(SCALARS)


def send(url: str, method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_hostile_requests_get_the_error_shape_and_never_a_500(fake_server):  # noqa: F811
    url, fake, worker = fake_server()
    tally: Counter[str] = Counter()

    @FUZZ
    @given(requests())
    def prop(request):
        method, path, query, headers, body, how, _ = request
        status, raw = send(url, method, path + query, headers, body)
        tally["ok" if status == 200 else "named" if status in ALLOWED else "other"] += 1
        assert status in ALLOWED, (status, raw[:300])
        if status != 200:
            answer = json.loads(raw)
            assert isinstance(answer, dict) and isinstance(answer.get("error"), str), raw[:300]

    try:
        prop()
    finally:
        record_tally("server requests", tally)
    status, raw = send(url, "POST", "/translate", {"Content-Type": "application/json"},
                       json.dumps({"q": "a b", "source": "en", "target": "xx"}).encode())
    assert (status, json.loads(raw)) == (200, {"translatedText": "b a"})
