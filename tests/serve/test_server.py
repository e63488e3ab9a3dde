"""`s2s serve` end to end: the real server in a subprocess, LibreTranslate's own Python client, raw HTTP for
the rest, every error of the API, bursts and disconnects, and a clean stop on SIGTERM."""

from __future__ import annotations

import collections
import html
import http.client
import json
import socket
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from s2s_desktop.cli import main
from tests.serve.conftest import CHAR_LIMIT, KEY, call, post_json, stop_server

SENTENCES = ["one two three", "four five", "six seven eight nine", "ten one", "two two three four five"]


def translate(server, **params):
    return post_json(server.url + "translate", {"api_key": KEY, **params})


def test_libretranslate_client_translates_lists_languages_and_detects(server, reference):
    from libretranslatepy import LibreTranslateAPI

    client = LibreTranslateAPI(server.url, api_key=KEY)
    for text in SENTENCES[:2]:
        assert client.translate(text, "en", "de") == reference("en", [text])[0].text
    assert client.translate("eins zwei", "de", "en") == reference("de", ["eins zwei"])[0].text
    assert client.languages() == [{"code": "de", "name": "German", "targets": ["en"]},
                                  {"code": "en", "name": "English", "targets": ["de"]}]
    german = client.detect("Ein Mann fährt mit seinem Fahrrad durch die alte Stadt.")
    english = client.detect("A man is riding his bicycle through the old town.")
    assert german[0]["language"] == "de" and english[0]["language"] == "en"
    assert german[0]["confidence"] > 50 and {d["language"] for d in german} == {"de", "en"}
    with pytest.raises(Exception, match="403"):
        LibreTranslateAPI(server.url, api_key="wrong").translate("one", "en", "de")


def test_a_list_gets_a_list_and_each_text_its_own_sentences(server, reference):
    texts = ["one two. Three four.", "five", "six seven\neight"]
    status, body = translate(server, q=texts, source="en", target="de")
    expected = [
        " ".join(t.text for t in reference("en", ["one two.", "Three four."])),
        reference("en", ["five"])[0].text,
        "\n".join(t.text for t in reference("en", ["six seven", "eight"])),
    ]
    assert status == 200 and body == {"translatedText": expected}


def test_form_data_query_parameters_and_multipart_give_the_same_answer(server, reference):
    expected = reference("en", ["three four five"])[0].text
    params = {"q": "three four five", "source": "en", "target": "de", "api_key": KEY}
    form = urllib.parse.urlencode(params).encode()
    assert call(server.url + "translate", form, {"Content-Type": "application/x-www-form-urlencoded"}) == (
        200, {"translatedText": expected})
    assert call(server.url + "translate?" + urllib.parse.urlencode(params), b"", method="POST") == (
        200, {"translatedText": expected})
    boundary = uuid.uuid4().hex
    multipart = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                        for k, v in params.items()) + f"--{boundary}--\r\n"
    assert call(server.url + "translate", multipart.encode(),
                {"Content-Type": f"multipart/form-data; boundary={boundary}"}) == (200, {"translatedText": expected})


def test_html_keeps_the_markup_and_translates_the_text_between_tags(server, reference):
    doc = ('<p class="intro">one two <b>three</b>!</p>\n<script>one(two)</script><!-- four -->'
           '<span translate="no">five</span><img src="six.png" alt="six">ten &amp; one')
    status, body = translate(server, q=doc, source="en", target="de", format="html")
    a, b, c = (t.text for t in reference("en", ["one two", "three", "ten & one"]))
    expected = (f'<p class="intro">{html.escape(a, quote=False)} <b>{html.escape(b, quote=False)}</b>!</p>\n'
                f'<script>one(two)</script><!-- four --><span translate="no">five</span><img src="six.png" alt="six">'
                f"{html.escape(c, quote=False)}")
    assert status == 200 and body["translatedText"] == expected


def test_auto_source_and_alternatives(server, reference):
    status, body = translate(server, q="one two three", source="auto", target="de", alternatives=3)
    assert status == 200
    nbest = reference("en", ["one two three"], nbest=4)[0].nbest
    assert body["translatedText"] == nbest[0].text
    assert body["detectedLanguage"]["language"] == "en" and 0 <= body["detectedLanguage"]["confidence"] <= 100
    others = list(dict.fromkeys(c.text for c in nbest[1:] if c.text and c.text != nbest[0].text))
    assert body["alternatives"] == others


def test_translate_file_then_download_it(server, reference):
    boundary = uuid.uuid4().hex
    text = "one two\nthree\n"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in {"source": "en", "target": "de", "api_key": KEY}.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
                 f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n")
    status, body = call(server.url + "translate_file", "".join(parts).encode(),
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, body
    with urllib.request.urlopen(body["translatedFileUrl"], timeout=10) as resp:
        assert resp.read().decode() == "\n".join(t.text for t in reference("en", ["one two", "three"])) + "\n"
        assert "notes.txt" in resp.headers["Content-Disposition"]


def test_frontend_settings_and_health(server):
    status, settings = call(server.url + "frontend/settings")
    assert status == 200 and settings["charLimit"] == CHAR_LIMIT and settings["apiKeys"] is True
    assert settings["language"]["source"]["code"] in ("de", "en")
    status, health = call(server.url + "health")
    assert status == 200 and health["status"] == "ok" and len(health["models"]) == 2


def _headers_only(server, headers: dict) -> tuple[int, dict]:
    """POST /translate with these headers and no body sent yet; read the answer."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.putrequest("POST", "/translate")
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


BAD_REQUESTS = [
    # (what, body, content type, status, words of the error)
    ("malformed JSON", b'{"q": "one", "source": "en"', "application/json", 400, "Invalid JSON format"),
    ("JSON that is not an object", b'["one"]', "application/json", 400, "must be a JSON object"),
    ("missing q", {"source": "en", "target": "de"}, "json", 400, "missing q parameter"),
    ("empty q", {"q": "", "source": "en", "target": "de"}, "json", 400, "missing q parameter"),
    ("empty list q", {"q": [], "source": "en", "target": "de"}, "json", 400, "missing q parameter"),
    ("q a number", {"q": 12, "source": "en", "target": "de"}, "json", 400, "q must be a string"),
    ("missing target", {"q": "one", "source": "en"}, "json", 400, "missing target parameter"),
    ("unknown language", {"q": "one", "source": "en", "target": "fr"}, "json", 400, "fr is not supported"),
    ("unknown pair", {"q": "one", "source": "en", "target": "en"}, "json", 400,
     "English (en) is not available as a target language from English (en)"),
    ("unknown format", {"q": "one", "source": "en", "target": "de", "format": "pdf"}, "json", 400,
     "pdf format is not supported"),
    ("alternatives not a number", {"q": "one", "source": "en", "target": "de", "alternatives": "x"}, "json", 400,
     "not a number"),
    ("q of 1 MB", {"q": "one " * 250_000, "source": "en", "target": "de"}, "json", 413,
     f"exceeds text limit ({CHAR_LIMIT})"),
    ("non-UTF-8 JSON", b'{"q": "\xff\xfe one", "source": "en", "target": "de"}', "application/json", 400,
     "not UTF-8"),
    ("non-UTF-8 form", b"q=%ff%fe&source=en&target=de", "application/x-www-form-urlencoded", 400, "not UTF-8"),
    ("raw non-UTF-8 form", b"q=\xff\xfe&source=en&target=de", "application/x-www-form-urlencoded", 400, "not UTF-8"),
]


@pytest.mark.parametrize("what, payload, ctype, status, words", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_bad_requests_get_the_error_shape_and_status(server, what, payload, ctype, status, words):
    if ctype == "json":
        got = post_json(server.url + "translate", {"api_key": KEY, **payload})
    else:
        got = call(server.url + "translate" + (f"?api_key={KEY}" if b"api_key" not in payload else ""), payload,
                   {"Content-Type": ctype})
    assert got[0] == status and words in got[1]["error"], got
    assert set(got[1]) == {"error"}


def test_keys_bodies_methods_and_paths(server, reference):
    one = {"q": "one", "source": "en", "target": "de"}
    assert post_json(server.url + "translate", one) == (403, {"error": "Missing API key: this server needs an "
                                                                       "api_key parameter"})
    assert post_json(server.url + "translate", {**one, "api_key": "nope"}) == (403, {"error": "Invalid API key"})
    assert post_json(server.url + "detect", {"q": "one", "api_key": "nope"})[0] == 403
    assert post_json(server.url + "translate", {**one, "api_key": "second-key"})[0] == 200  # any key of the file
    # a 10 MB body: refused from its Content-Length, before any of it is read
    status, body = _headers_only(server, {"Content-Type": "application/json", "Content-Length": 10 * 1024 * 1024})
    assert status == 413 and "larger than this server's limit" in body["error"]
    # the same without a length (chunked): refused once the count passes the limit
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.request("POST", "/translate", body=(b"x" * 100_000 for _ in range(100)),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413 and "larger" in json.loads(resp.read())["error"]
    conn.close()
    assert call(server.url + "translate?q=one&source=en&target=de&api_key=%ff", b"", method="POST")[0] == 400
    assert call(server.url + "translate", method="GET")[0] == 405
    assert call(server.url + "nowhere")[0] == 404
    assert post_json(server.url + "detect", {"api_key": KEY})[0] == 400
    assert translate(server, **one) == (200, {"translatedText": reference("en", ["one"])[0].text})  # still serving


def test_a_burst_of_1000_requests_gets_answers_or_429_and_nothing_else(server, reference):
    expected = {s: t.text for s, t in zip(SENTENCES, reference("en", SENTENCES))}

    def one(i):
        text = SENTENCES[i % len(SENTENCES)]
        status, body = translate(server, q=text, source="en", target="de")
        return status, text, body

    start = time.monotonic()
    with ThreadPoolExecutor(100) as pool:
        results = list(pool.map(one, range(1000)))
    counts = collections.Counter(status for status, _, _ in results)
    assert set(counts) == {200, 429}, counts  # some waited their turn, the rest were told to slow down
    assert all(body == {"translatedText": expected[text]} for status, text, body in results if status == 200)
    assert all("Slowdown" in body["error"] for status, _, body in results if status == 429)
    assert time.monotonic() - start < 60
    status, health = call(server.url + "health")
    assert status == 200 and all(m["queued"] == 0 for m in health["models"])
    assert translate(server, q="two", source="en", target="de")[0] == 200


def test_clients_that_go_away_mid_request_do_not_stop_the_server(server, reference):
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    payload = json.dumps({"q": "One two three four. " * 90, "source": "en", "target": "de", "api_key": KEY}).encode()
    head = (f"POST /translate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:  # half a body, then gone
        sock.sendall(head + payload[: len(payload) // 2])
    with socket.create_connection((host, int(port))) as sock:  # the whole request, gone before the answer
        sock.sendall(head + payload)
        time.sleep(0.2)
    time.sleep(0.5)
    assert translate(server, q="three", source="en", target="de") == (
        200, {"translatedText": reference("en", ["three"])[0].text})


def test_log_has_one_line_per_request_and_no_text(server):
    marker = "nine eight seven six five four three two one ten"
    before = server.log_text().count("POST /translate ")
    for _ in range(3):
        assert translate(server, q=marker, source="en", target="de")[0] == 200
    time.sleep(0.2)
    log = server.log_text()
    assert log.count("POST /translate ") == before + 3
    assert marker not in log and f"en→de 1 sentences {len(marker)} chars" in log


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(server):
    """Last in this module: it stops the server."""
    got = {}

    def slow():
        got["answer"] = translate(server, q="One two three four. " * 90, source="en", target="de")

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    assert stop_server(server) == 0
    thread.join(30)
    assert got["answer"][0] == 200 and len(got["answer"][1]["translatedText"]) > 0
    assert "stopped" in server.log_text()


def test_network_address_needs_keys_and_a_busy_port_is_named(capsys, tmp_path):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--api-keys" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert main(["serve", "--port", str(busy.getsockname()[1])]) == 2
        assert "is in use" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert main(["serve", "--api-keys", str(tmp_path / "empty.txt")]) == 2
    assert "no keys" in capsys.readouterr().err
