"""The real server (`s2s serve` in a subprocess, on a free loopback port) and small HTTP helpers.

The server gets two tiny untrained models (en→de and de→en, so that detection has two languages to
choose between), an API key file, a small queue (so that a burst gets 429s) and a small character limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

KEY = "test-key-123"
QUEUE = 8
CHAR_LIMIT = 2000


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    banner: str = ""  # what it printed before it listened: one line per model it loaded

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def call(url: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None,
         timeout: float = 30) -> tuple[int, object]:
    """(status, parsed JSON body) for any status."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post_json(url: str, payload: object, **kw) -> tuple[int, object]:
    return call(url, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json"}, **kw)


@pytest.fixture(scope="session")
def de_en_model_file(tmp_path_factory, tiny_tokenizers) -> Path:
    """A tiny untrained de→en model (the en→de fixture's tokenizers swapped)."""
    import torch

    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    tgt_tok, src_tok = tiny_tokenizers
    torch.manual_seed(1)
    model = build_model(ModelConfig(emb_size=16, encoder_hidden=16, decoder_hidden=32,
                                    src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok)))
    path = tmp_path_factory.mktemp("de_en") / "tiny-de-en.s2s"
    save_model(path, model, src_tok, tgt_tok, ModelMeta("de", "en"))
    return path


def start_server(args: list[str], log: Path, timeout: float = 60) -> Server:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "s2s_desktop", "serve", "--port", "0", "--threads", "1",
                                 *args], stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    deadline = time.monotonic() + timeout
    banner = []
    for line in proc.stdout:
        banner.append(line)
        if line.startswith("serving on "):
            url = line.split()[2].rstrip("/") + "/"
            break
        if time.monotonic() > deadline:
            break
    else:
        proc.wait(10)
        pytest.fail(f"the server did not start: {log.read_text()}")
    return Server(url, proc, log, "".join(banner))


def stop_server(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(20)
    finally:
        if server.process.poll() is None:
            server.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_file, de_en_model_file):
    folder = tmp_path_factory.mktemp("serve")
    keys = folder / "keys.txt"
    keys.write_text(f"# test keys\n{KEY}\n\nsecond-key\n", encoding="utf-8")
    srv = start_server(["--model", str(tiny_model_file), str(de_en_model_file), "--api-keys", str(keys),
                        "--queue", str(QUEUE), "--char-limit", str(CHAR_LIMIT), "--timeout", "20"],
                       folder / "server.log")
    yield srv
    if srv.process.poll() is None:
        stop_server(srv)


@pytest.fixture(scope="module")
def reference(tiny_model_file, de_en_model_file):
    """In-process translators of the same files: what the server must answer."""
    import torch

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator

    threads = torch.get_num_threads()  # one thread, as the server: two would fight it (and any other load)
    translators = {"en": Translator.open(str(tiny_model_file), "cpu", threads=1),
                   "de": Translator.open(str(de_en_model_file), "cpu", threads=1)}

    def translate(source: str, sentences: list[str], nbest: int = 1) -> list:
        opts = DecodeOptions(alternatives=0, nbest=nbest, beam=max(5, nbest))
        return translators[source].translate(sentences, opts)

    yield translate
    torch.set_num_threads(threads)
