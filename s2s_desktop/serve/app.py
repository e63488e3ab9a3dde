"""The LibreTranslate API as a Starlette (ASGI) application over a `ModelRegistry`.

Routes, parameters, response fields and error texts follow LibreTranslate's own server (its
libretranslate/app.py), so that its clients work unchanged: parameters come from a JSON object, a form
(urlencoded or multipart) or the query string; every error is `{"error": "..."}` with 400 (bad input,
unknown language), 403 (API key), 413 (body or text too large), 429 (queue full or time limit) and 500
only for a fault of the server. Where this server differs: the character limit answers 413 (LibreTranslate:
400), and a repeated form field `q` is a list.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hmac
import json
import logging
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from s2s_desktop import __version__
from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.errors import S2SError
from s2s_desktop.serve.batcher import BatchWorker, QueueFull, ShuttingDown
from s2s_desktop.serve.detect import DetectionUnavailable, LanguageDetector
from s2s_desktop.serve.registry import ModelRegistry, language_name
from s2s_desktop.serve.textplan import alternatives, plan

log = logging.getLogger("s2s.serve")
LOG_KEY = "s2s.log"  # the scope entry where a route leaves what the request log line reports
FILE_FORMATS = (".txt",)
KEPT_FILES = 16  # translated files kept for /download_file (the oldest goes first)


@dataclass(frozen=True)
class ServeSettings:
    char_limit: int = 5000  # characters of text per request (all of q together); -1 = no limit
    body_limit: int = 2 * 1024 * 1024  # bytes of request body (a file for /translate_file included)
    timeout: float = 30.0  # seconds a request may wait for and take in the engine
    api_keys: frozenset[str] | None = None  # None: no key needed
    alternatives_limit: int = 8
    log_text: bool = False  # the request log shows the text sent (privacy: off by default)
    decode: DecodeOptions = field(default_factory=lambda: DecodeOptions(alternatives=0))


class ApiError(Exception):
    """A request the server answers with `{"error": message}` and `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# -- parameters --------------------------------------------------------------------------------------
def _pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    try:
        # raw UTF-8 is accepted as well as %-escapes (curl -d sends "Grüße" unescaped)
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"Invalid request: the {where} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from exc


def _merge(params: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    for key, value in pairs:
        if key == "q" and key in params:  # a repeated q is a list of texts
            params[key] = (params[key] if isinstance(params[key], list) else [params[key]]) + [value]
        else:
            params.setdefault(key, value)


async def read_params(request: Request) -> dict[str, Any]:
    """The request's parameters from its JSON object, form or query string (the body wins)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params: dict[str, Any] = {}
    try:
        if ctype == "application/json" or ctype.endswith("+json"):
            body = await request.body()
            try:
                data = json.loads(body)
            except UnicodeDecodeError as exc:
                raise ApiError(400, f"Invalid request: the body is not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start})") from exc
            except ValueError as exc:
                raise ApiError(400, f"Invalid JSON format: {exc}") from exc
            if not isinstance(data, dict):
                raise ApiError(400, "Invalid JSON format: the body must be a JSON object such as "
                                    '{"q": "Hello", "source": "en", "target": "de"}')
            params.update(data)
        elif ctype == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=64)
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    params.setdefault(key, value)
                else:
                    _merge(params, [(key, value)])
        elif ctype in ("", "application/x-www-form-urlencoded"):
            _merge(params, _pairs(await request.body(), "body"))
        else:
            await request.body()  # another type: LibreTranslate reads only the query string then
    except (BodyTooLarge, ApiError):
        raise
    except ClientDisconnect as exc:
        raise ClientGone() from exc
    except Exception as exc:  # a malformed multipart body
        if isinstance(exc, HTTPException):
            raise ApiError(400, f"Invalid request: {exc.detail}") from exc
        raise ApiError(400, f"Invalid request: the body cannot be read as {ctype} ({exc})") from exc
    _merge(params, _pairs(request.scope.get("query_string", b""), "query string"))
    return params


def _text_param(params: dict[str, Any], name: str, allow_list: bool = False) -> str | list[str]:
    value = params.get(name)
    if allow_list and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"Invalid request: {name} must be a string or a list of strings")
        if not value:
            raise ApiError(400, f"Invalid request: missing {name} parameter")
        return value
    if value is None or value == "":
        raise ApiError(400, f"Invalid request: missing {name} parameter")
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid request: {name} must be a string" + (" or a list of strings" if allow_list else ""))
    return value


def _code(params: dict[str, Any], name: str) -> str:
    return _text_param(params, name).strip().lower()


class Api:
    """The routes, bound to the models, the limits and the detector of one server."""

    def __init__(self, registry: ModelRegistry, settings: ServeSettings):
        self.registry = registry
        self.settings = settings
        self.detector = LanguageDetector(registry.sources)
        self.files: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self.requests = 0  # answered, any status
        self.last_error = ""

    # -- shared checks ------------------------------------------------------------------------------
    def check_key(self, params: dict[str, Any]) -> None:
        keys = self.settings.api_keys
        if keys is None:
            return
        key = params.get("api_key")
        if not key:
            raise ApiError(403, "Missing API key: this server needs an api_key parameter")
        if not isinstance(key, str) or not any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
            raise ApiError(403, "Invalid API key")

    def check_chars(self, texts: list[str]) -> None:
        limit, size = self.settings.char_limit, sum(len(t) for t in texts)
        if limit != -1 and size > limit:
            raise ApiError(413, f"Invalid request: request ({size}) exceeds text limit ({limit})")

    async def _resolve(self, source: str, target: str, text: str) -> tuple[str, dict | None]:
        """(source code, detectedLanguage or None) for a request naming `source` (maybe "auto")."""
        reg = self.registry
        if target not in reg.targets:
            raise ApiError(400, f"{target} is not supported")
        if source != "auto":
            if source not in reg.sources:
                raise ApiError(400, f"{source} is not supported")
            if reg.get(source, target) is None:
                raise ApiError(400, f"{language_name(target)} ({target}) is not available as a target language "
                                    f"from {language_name(source)} ({source})")
            return source, None
        candidates = reg.sources_into(target)
        try:
            ranked = [d for d in await run_in_threadpool(self.detector.detect, text) if d["language"] in candidates]
        except DetectionUnavailable as exc:
            if len(candidates) > 1:
                raise ApiError(400, f"Cannot detect the source language: {exc}") from exc
            ranked = [{"language": candidates[0], "confidence": 100.0}]
        best = ranked[0] if ranked else {"language": candidates[0], "confidence": 0.0}
        return str(best["language"]), dict(best)

    async def run(self, request: Request, worker: BatchWorker, sentences: list[str], opts: DecodeOptions,
                  target: str | None):
        """Hand the sentences to the model's worker and wait for them, the client and the time limit."""
        if not sentences:
            return []
        try:
            job = worker.submit(sentences, opts, target)
        except QueueFull as exc:
            raise ApiError(429, f"Slowdown: the server is busy ({exc}); try again in a moment") from exc
        except ShuttingDown as exc:
            raise ApiError(503, f"The server is shutting down: {exc}") from exc
        result = asyncio.wrap_future(job.future)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({result, gone}, timeout=self.settings.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not result.done():
                worker.cancel(job)  # out of the queue now, or out of its batch at the next bucket
                result.cancel()  # and its late result (or error) is dropped, not left unretrieved
        if result in done:
            try:
                return result.result()
            except ShuttingDown as exc:
                raise ApiError(503, f"The server is shutting down: {exc}") from exc
            except (asyncio.CancelledError, concurrent.futures.CancelledError) as exc:
                raise ClientGone() from exc
        if gone in done:
            raise ClientGone()
        raise ApiError(429, f"Slowdown: the translation did not finish within this server's limit of "
                            f"{self.settings.timeout:g} s; send less text or try again later")

    # -- routes -------------------------------------------------------------------------------------
    async def translate(self, request: Request) -> Response:
        params = await read_params(request)
        self.check_key(params)
        q = _text_param(params, "q", allow_list=True)
        source, target = _code(params, "source"), _code(params, "target")
        fmt = params.get("format") or "text"
        if fmt not in ("text", "html"):
            raise ApiError(400, f"{fmt} format is not supported")
        try:
            count = max(0, int(params.get("alternatives") or 0))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Invalid request: alternatives parameter is not a number") from exc
        if count > self.settings.alternatives_limit:
            raise ApiError(400, f"Invalid request: alternatives parameter must be <= {self.settings.alternatives_limit}")
        texts = q if isinstance(q, list) else [q]
        self.check_chars(texts)
        source, detected = await self._resolve(source, target, " ".join(texts))
        model = self.registry.get(source, target)
        sentences: list[str] = []
        plans = [plan(t, fmt, sentences) for t in texts]
        opts = self.settings.decode
        if count:
            opts = dataclasses.replace(opts, nbest=count + 1, beam=max(opts.beam, count + 1))
        request.scope[LOG_KEY].update(pair=f"{source}→{target}", sentences=len(sentences),
                                      chars=sum(len(t) for t in texts), text=texts)
        translations = await self.run(request, model.worker, sentences, opts, model.target_token(target))
        out = [p.render(translations) for p in plans]
        body: dict[str, Any] = {"translatedText": out if isinstance(q, list) else out[0]}
        if detected is not None:
            body["detectedLanguage"] = [detected] * len(texts) if isinstance(q, list) else detected
        if count:
            alts = [alternatives(p, translations, count) if fmt == "text" else [] for p in plans]
            body["alternatives"] = alts if isinstance(q, list) else alts[0]
        return JSONResponse(body)

    async def detect(self, request: Request) -> Response:
        params = await read_params(request)
        self.check_key(params)
        q = _text_param(params, "q", allow_list=True)
        text = " ".join(q) if isinstance(q, list) else q
        self.check_chars([text])
        request.scope[LOG_KEY].update(chars=len(text), text=[text])
        try:
            return JSONResponse(await run_in_threadpool(self.detector.detect, text))
        except DetectionUnavailable as exc:
            raise ApiError(400, f"Cannot detect the language: {exc}") from exc

    async def languages(self, request: Request) -> Response:
        return JSONResponse(self.registry.languages())

    async def translate_file(self, request: Request) -> Response:
        params = await read_params(request)
        self.check_key(params)
        upload = params.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "Invalid request: missing file parameter (send it as multipart/form-data)")
        name = upload.filename or ""
        if not name:
            raise ApiError(400, "Invalid request: empty file")
        if not name.lower().endswith(FILE_FORMATS):
            raise ApiError(400, f"Invalid request: file format not supported (this server translates "
                                f"{', '.join(FILE_FORMATS)} files)")
        source, target = _code(params, "source"), _code(params, "target")
        try:
            text = (await upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"Invalid request: {name} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
                from exc
        source, _ = await self._resolve(source, target, text[:2000])
        model = self.registry.get(source, target)
        sentences: list[str] = []
        file_plan = plan(text, "text", sentences)
        request.scope[LOG_KEY].update(pair=f"{source}→{target}", sentences=len(sentences), chars=len(text),
                                      text=[text])
        translations = await self.run(request, model.worker, sentences, self.settings.decode,
                                      model.target_token(target))
        key = f"{uuid.uuid4().hex}.{_safe_name(name)}"
        self.files[key] = (_safe_name(name), file_plan.render(translations).encode("utf-8"))
        while len(self.files) > KEPT_FILES:
            self.files.popitem(last=False)
        return JSONResponse({"translatedFileUrl": str(request.url_for("download_file", filename=key))})

    async def download_file(self, request: Request) -> Response:
        key = request.path_params["filename"]
        if key not in self.files:
            raise ApiError(404, "Invalid filename: no translated file of that name (this server keeps the last "
                                f"{KEPT_FILES})")
        name, data = self.files[key]
        return Response(data, media_type="text/plain; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    async def frontend_settings(self, request: Request) -> Response:
        langs = self.registry.languages()
        source = next((lang for lang in langs if lang["targets"]), langs[0])
        target = source["targets"][0] if source["targets"] else source["code"]
        return JSONResponse({
            "charLimit": self.settings.char_limit, "frontendTimeout": 500,
            "apiKeys": self.settings.api_keys is not None, "keyRequired": self.settings.api_keys is not None,
            "suggestions": False, "filesTranslation": True, "supportedFilesFormat": list(FILE_FORMATS),
            "language": {"source": {"code": source["code"], "name": source["name"]},
                         "target": {"code": target, "name": language_name(target)}},
        })

    async def health(self, request: Request) -> Response:
        stats = [dataclasses.asdict(m.worker.stats) | {"model": m.worker.name, "queued": m.worker.queued}
                 for m in self.registry.models]
        return JSONResponse({"status": "ok", "version": __version__, "requests": self.requests, "models": stats})


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in base) or "file.txt"


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection (the body has been read, so only that can arrive)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _endpoint(api: Api, handler):
    """Run a route, turning every failure into LibreTranslate's error shape (500 only for our faults)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            response = _error(exc.status, exc.message)
        except BodyTooLarge as exc:
            response = _error(413, str(exc))
        except ClientGone:
            request.scope[LOG_KEY]["gone"] = True
            return Response(status_code=499)  # nginx's "client closed the request": only the log sees it
        except S2SError as exc:  # the engine refused the input (its message names the problem)
            response = _error(400, str(exc))
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            response = _error(500, f"Cannot translate text: {type(exc).__name__}: {exc}")
        api.last_error = f"{response.status_code} {json.loads(response.body)['error']}"
        return response

    return endpoint


# -- ASGI middleware ---------------------------------------------------------------------------------
class BodyLimit:
    """413 for a body over `limit` bytes: at once from its Content-Length, else when the count passes it
    (the route stops reading; nothing past the limit is kept)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        message = f"Invalid request: the body is larger than this server's limit of {self.limit} bytes"
        if length is not None and length.isdigit() and int(length) > self.limit:
            scope.setdefault(LOG_KEY, {})
            return await _error(413, message)(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(message)
            return msg

        await self.app(scope, limited, send)


class RequestLog:
    """One line per request: client, method, path, status, milliseconds, pair, sentences, characters (and
    the text itself only with `log_text`)."""

    def __init__(self, app, api: Api, log_text: bool):
        self.app = app
        self.api = api
        self.log_text = log_text

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        details = scope.setdefault(LOG_KEY, {})

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.api.requests += 1
            client = scope.get("client") or ("-", 0)
            parts = [f"{client[0]}:{client[1]}", scope["method"], scope["path"],
                     "499 (client went away)" if details.get("gone") else str(status[0]),
                     f"{(time.perf_counter() - start) * 1000:.1f} ms"]
            if "pair" in details:
                parts.append(details["pair"])
            if "sentences" in details:
                parts.append(f"{details['sentences']} sentences")
            if "chars" in details:
                parts.append(f"{details['chars']} chars")
            if self.log_text and "text" in details:
                parts.append("q=" + json.dumps(details["text"], ensure_ascii=False)[:500])
            log.info(" ".join(parts))


def build_app(registry: ModelRegistry, settings: ServeSettings = ServeSettings(), close_registry: bool = True):
    """The ASGI application; `close_registry`: stop the model workers when the server shuts down."""
    api = Api(registry, settings)

    @asynccontextmanager
    async def lifespan(app):
        warming = asyncio.get_running_loop().run_in_executor(None, api.detector.warm)  # ~1 s, off the loop
        yield
        await warming
        if close_registry:
            await run_in_threadpool(registry.close)

    def route(path, handler, methods, name=None):
        return Route(path, _endpoint(api, handler), methods=methods, name=name)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    app = Starlette(
        routes=[
            route("/translate", api.translate, ["POST"]),
            route("/detect", api.detect, ["POST"]),
            route("/languages", api.languages, ["GET", "POST"]),
            route("/translate_file", api.translate_file, ["POST"]),
            route("/download_file/{filename}", api.download_file, ["GET"], name="download_file"),
            route("/frontend/settings", api.frontend_settings, ["GET"]),
            route("/health", api.health, ["GET"]),
        ],
        middleware=[
            Middleware(RequestLog, api=api, log_text=settings.log_text),
            # LibreTranslate answers any origin: browser extensions and web pages call the local server
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "Content-Type"]),
            Middleware(BodyLimit, limit=settings.body_limit),
        ],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
    app.state.api = api
    return app
