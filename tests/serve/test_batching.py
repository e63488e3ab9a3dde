"""The parts of `s2s serve` that need no model: the batching worker (with a slow stand-in translator whose
work can be counted), the ASGI app on it under uvicorn in a thread (timeouts, disconnects, batching of
concurrent clients), the HTML runs, language detection without its package, and the binding rules."""

from __future__ import annotations

import concurrent.futures
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from s2s_desktop.engine.api import Candidate, DecodeOptions, Translation
from s2s_desktop.errors import ConfigError
from s2s_desktop.serve.batcher import BatchWorker, QueueFull, ShuttingDown
from s2s_desktop.serve.detect import DetectionUnavailable, LanguageDetector
from s2s_desktop.serve.html_text import html_runs
from s2s_desktop.serve.server import check_binding
from tests.serve.conftest import post_json

OPTS = DecodeOptions(alternatives=0)


def reversed_words(text: str, rank: int = 0) -> str:
    return " ".join(text.split()[::-1]) + (f" #{rank}" if rank else "")


class SlowTranslator:
    """Reverses the words, `seconds` per sentence, one sentence per progress call; records its work."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self.calls: list[int] = []  # sentences per translate() call
        self.decoded = 0  # sentences actually worked on
        self.started = threading.Event()
        self.threads: set[int] = set()  # the threads translate() ran on

    def translate(self, texts, opts=OPTS, batch_tokens=4000, progress=None, attention=True):
        self.calls.append(len(texts))
        self.threads.add(threading.get_ident())
        self.started.set()
        out = []
        for text in texts:
            time.sleep(self.seconds)
            self.decoded += 1
            cands = tuple(Candidate(reversed_words(text, r), (), np.zeros(0), -r, -r, np.zeros((1, 1, 0, 0)))
                          for r in range(opts.nbest))
            out.append(Translation(text, (), cands[0], cands))
            if progress is not None and progress(len(out), len(texts)) is False:
                break
        return out


def test_concurrent_jobs_share_one_batch_and_get_their_own_results():
    fake = SlowTranslator()
    worker = BatchWorker(fake, "en→xx", wait_ms=50)
    try:
        jobs = [worker.submit([f"a{i} b{i}", f"c{i} d{i}"], OPTS) for i in range(6)]
        results = [job.future.result(5) for job in jobs]
    finally:
        worker.close()
    assert fake.calls == [12]  # all six requests, one engine call
    assert [[t.text for t in r] for r in results] == [[f"b{i} a{i}", f"d{i} c{i}"] for i in range(6)]
    assert worker.stats.batches == 1 and worker.stats.requests == 6 and worker.stats.sentences == 12


def test_jobs_with_other_options_wait_for_their_own_batch():
    fake = SlowTranslator()
    worker = BatchWorker(fake, "en→xx", wait_ms=50)
    try:
        a = worker.submit(["one two"], OPTS)
        b = worker.submit(["three four"], DecodeOptions(alternatives=0, nbest=2))
        assert [t.text for t in a.future.result(5)] == ["two one"]
        assert [c.text for c in b.future.result(5)[0].nbest] == ["four three", "four three #1"]
    finally:
        worker.close()
    assert sorted(fake.calls) == [1, 1]


def test_cancelled_jobs_stop_costing_work_and_a_full_queue_refuses():
    fake = SlowTranslator(seconds=0.05)
    worker = BatchWorker(fake, "en→xx", max_queue=2, wait_ms=0, max_batch=100)
    try:
        running = worker.submit([f"s{i}" for i in range(40)], OPTS)  # 2 s of work
        assert fake.started.wait(5)
        waiting = worker.submit(["w1"], OPTS)
        worker.submit(["w2"], OPTS)
        with pytest.raises(QueueFull):
            worker.submit(["w3"], OPTS)
        worker.cancel(waiting)  # leaves the queue at once: room for another
        worker.submit(["w4"], OPTS)
        worker.cancel(running)  # stops at the next sentence
        time.sleep(0.3)
        assert fake.decoded < 10
        with pytest.raises(concurrent.futures.CancelledError):
            running.future.result(5)
    finally:
        worker.close()
    assert worker.stats.cancelled == 2 and worker.stats.rejected == 1


def test_close_fails_the_waiting_jobs_and_refuses_new_ones():
    fake = SlowTranslator(seconds=0.2)
    worker = BatchWorker(fake, "en→xx", wait_ms=0)
    running = worker.submit(["one"], OPTS)
    assert fake.started.wait(5)
    waiting = worker.submit(["two"], OPTS)
    worker.close()
    assert [t.text for t in running.future.result(5)] == ["one"]  # the batch in progress finishes
    with pytest.raises(ShuttingDown):
        waiting.future.result(5)
    with pytest.raises(ShuttingDown):
        worker.submit(["three"], OPTS)


def test_every_model_loads_and_decodes_on_the_one_torch_thread(monkeypatch, tmp_path):
    """torch is 3x slower on a second thread (engine/torch_thread.py): the batching threads only hand over."""
    from s2s_desktop.engine.decoding import service
    from s2s_desktop.engine.torch_thread import TorchThread
    from s2s_desktop.serve.registry import open_models

    loaded: list[int] = []
    fakes: list[SlowTranslator] = []

    def fake_open(path, device="auto", threads=None, precision="auto"):
        loaded.append(threading.get_ident())
        fake = SlowTranslator()
        src, tgt = Path(path).stem.split("-")
        fake.info = lambda: SimpleNamespace(src_lang=src, tgt_lang=tgt, target_languages=(), parameters=1000,
                                            device="cpu", precision=precision)
        fakes.append(fake)
        return fake

    monkeypatch.setattr(service.Translator, "open", staticmethod(fake_open))
    torch_thread = TorchThread()
    try:
        registry = open_models([tmp_path / "en-de.s2s", tmp_path / "de-en.s2s"],
                               lambda t, name: BatchWorker(t, name, wait_ms=0, runner=torch_thread.call),
                               runner=torch_thread.call)
        try:
            jobs = [m.worker.submit(["a b"], OPTS) for m in registry.models for _ in range(3)]
            assert all([t.text for t in job.future.result(5)] == ["b a"] for job in jobs)
        finally:
            registry.close()
    finally:
        torch_thread.close()
    assert set(loaded) == {torch_thread.ident}
    assert set.union(*(f.threads for f in fakes)) == {torch_thread.ident}
    assert threading.get_ident() != torch_thread.ident


# -- the app under uvicorn, in a thread ------------------------------------------------------------------
@pytest.fixture
def fake_server():
    """Start build_app over a SlowTranslator on a free loopback port; yields (url, translator, worker)."""
    import uvicorn

    from s2s_desktop.serve.app import ServeSettings, build_app
    from s2s_desktop.serve.registry import ModelRegistry, ServedModel

    servers = []

    def start(seconds: float = 0.0, timeout: float = 10.0, wait_ms: float = 5.0):
        fake = SlowTranslator(seconds)
        worker = BatchWorker(fake, "en→xx", wait_ms=wait_ms)
        registry = ModelRegistry([ServedModel("fake.s2s", "en", ("xx",), False, worker)])
        app = build_app(registry, ServeSettings(timeout=timeout))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        servers.append((server, thread, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/", fake, worker

    yield start
    for server, thread, sock in servers:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_concurrent_clients_are_decoded_in_shared_batches(fake_server):
    url, fake, worker = fake_server(seconds=0.02, wait_ms=30)
    texts = [f"w{i} x{i} y{i}" for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: post_json(url + "translate", {"q": t, "source": "en", "target": "xx"}), texts))
    assert answers == [(200, {"translatedText": reversed_words(t)}) for t in texts]
    assert sum(fake.calls) == 16 and len(fake.calls) < 8  # far fewer engine calls than requests


def test_a_request_over_its_time_gets_429_and_its_work_stops(fake_server):
    url, fake, worker = fake_server(seconds=0.1, timeout=0.5)
    status, body = post_json(url + "translate", {"q": [f"s{i}" for i in range(50)], "source": "en", "target": "xx"})
    assert status == 429 and "did not finish within this server's limit of 0.5 s" in body["error"]
    time.sleep(0.3)
    assert fake.decoded < 12  # 5 s of work asked, about 0.6 s done
    assert post_json(url + "translate", {"q": "a b", "source": "en", "target": "xx"}) == (200, {"translatedText": "b a"})


def test_a_client_that_disconnects_stops_costing_work(fake_server):
    url, fake, worker = fake_server(seconds=0.1)
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    payload = b'{"q": [' + b",".join(b'"s%d"' % i for i in range(50)) + b'], "source": "en", "target": "xx"}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        assert fake.started.wait(5)
    time.sleep(0.5)
    assert worker.stats.cancelled == 1 and fake.decoded < 12


# -- HTML, detection, binding ---------------------------------------------------------------------------
@pytest.mark.parametrize("doc", [
    "<p>Hello <b>world</b>!</p>", "plain text &amp; more", "<br/><img src=x>", "<p>unclosed <b>bold",
    "<!DOCTYPE html><html><head><style>p {}</style></head><body>Hi<!-- x --></body></html>",
    "a < b and c > d", "<p>broken <", "&#x41;&eacute;&unknown;", "", "<?xml version='1.0'?><x>t</x>",
])
def test_html_runs_give_back_the_document_exactly(doc):
    runs = html_runs(doc)
    assert "".join(raw for raw, _ in runs) == doc
    for raw, text in runs:
        assert text is None or (text.strip() and not raw.startswith("<!--"))


def test_html_text_inside_kept_elements_is_not_translated():
    runs = html_runs('<code>x = 1</code><p translate="no">keep <i>this</i></p><p class="a notranslate">too</p>'
                     "<p>but this</p><script>if (a < b) {}</script>")
    assert [text for _, text in runs if text] == ["but this"]


def test_detection_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    with pytest.raises(DetectionUnavailable, match="py3langid package"):
        LanguageDetector(["en", "de"]).detect("Hallo Welt")
    assert LanguageDetector(["en"]).detect("anything") == [{"language": "en", "confidence": 100.0}]


def test_detection_names_languages_it_does_not_know():
    pytest.importorskip("py3langid")
    with pytest.raises(DetectionUnavailable, match="does not know rev"):
        LanguageDetector(["en", "rev"]).detect("one two")


def test_binding_rules():
    assert check_binding("127.0.0.1", None, False) is None
    assert check_binding("::1", None, False) is None and check_binding("localhost", None, False) is None
    with pytest.raises(ConfigError, match="--api-keys FILE, or --no-auth-on-network"):
        check_binding("0.0.0.0", None, False)
    with pytest.raises(ConfigError):
        check_binding("my-host.example", None, False)
    assert check_binding("192.168.1.5", frozenset({"k"}), False) is None
    assert "without API keys" in check_binding("0.0.0.0", None, True)


def test_model_files_from_folders_and_one_model_per_pair(tmp_path):
    from s2s_desktop.serve.registry import ModelRegistry, ServedModel, model_files

    (tmp_path / "a.s2s").write_bytes(b"")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.s2s").write_bytes(b"")
    (tmp_path / "run" / "last.s2s").write_bytes(b"")  # a run's other saves are not served
    assert model_files([], [str(tmp_path)]) == [(tmp_path / "a.s2s").resolve(), (tmp_path / "run" / "best.s2s").resolve()]
    with pytest.raises(ConfigError, match="not a folder"):
        model_files([], [str(tmp_path / "a.s2s")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no .s2s model files"):
        model_files([], [str(tmp_path / "empty")])
    workers = [BatchWorker(SlowTranslator(), f"w{i}") for i in range(3)]
    with pytest.raises(ConfigError, match="two models translate en→de: one.s2s and two.s2s"):
        ModelRegistry([ServedModel("one.s2s", "en", ("de",), False, workers[0]),
                       ServedModel("two.s2s", "en", ("de",), False, workers[1])])
    multi = ModelRegistry([ServedModel("mul.s2s", "en", ("deu", "fra"), True, workers[2])])
    assert multi.get("EN", "fra").target_token("fra") == "fra"
    assert {"code": "en", "name": "English", "targets": ["deu", "fra"]} in multi.languages()
    multi.close()
