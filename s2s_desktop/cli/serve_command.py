"""`s2s serve`: the LibreTranslate-compatible HTTP server (s2s_desktop/serve) on the models given."""

from __future__ import annotations

import logging
import sys

from s2s_desktop.cli.common import raise_usage

DEFAULT_PORT = 5000  # LibreTranslate's


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve models over the LibreTranslate HTTP API (browser extensions, editors, "
                                     "scripts)")
    p.add_argument("--model", metavar="FILE", nargs="+", action="extend", default=[],
                   help="a .s2s model file to serve (one per language pair; default: the built-in models)")
    p.add_argument("--models", metavar="DIR", action="append", default=[],
                   help="serve every .s2s file in DIR and the best.s2s of each run folder in it")
    p.add_argument("--library", action="store_true",
                   help="serve the app's model library (built-in, trained here, imported, opened in the app): one "
                        "model per language pair, the one s2s translate --from/--to picks")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; another address needs "
                        "--api-keys or --no-auth-on-network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--api-keys", metavar="FILE", help="require api_key to be one of the keys in FILE (one per line)")
    p.add_argument("--no-auth-on-network", action="store_true",
                   help="allow a non-loopback --host without --api-keys (anyone who can reach it may use it)")
    p.add_argument("--char-limit", type=int, default=5000, metavar="N",
                   help="characters of text per request, all of q together (default 5000; -1 = no limit)")
    p.add_argument("--body-limit", type=int, default=2 * 1024 * 1024, metavar="BYTES",
                   help="largest request body, files included (default 2 MiB)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long a request may wait for and take in the engine (default 30; then 429)")
    p.add_argument("--queue", type=int, default=64, metavar="N",
                   help="requests that may wait for each model; the next gets 429 (default 64)")
    p.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy, fastest; default 5)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"],
                   help="decoder matmul precision (as for s2s translate)")
    p.add_argument("--log-text", action="store_true", help="also log the text of each request (off: privacy)")


def _check(args) -> None:
    if not 0 <= args.port <= 65535:
        raise_usage(f"--port must be between 0 and 65535 (got {args.port})")
    if args.char_limit < 1 and args.char_limit != -1:
        raise_usage(f"--char-limit must be at least 1, or -1 for no limit (got {args.char_limit})")
    if args.body_limit < 1024:
        raise_usage(f"--body-limit must be at least 1024 bytes (got {args.body_limit})")
    if args.timeout <= 0:
        raise_usage(f"--timeout must be more than 0 seconds (got {args.timeout:g})")
    if args.queue < 1:
        raise_usage(f"--queue must be at least 1 (got {args.queue})")
    if args.beam < 1:
        raise_usage(f"--beam must be at least 1 (got {args.beam})")


def cmd_serve(args) -> int:
    _check(args)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise_usage(f"s2s serve needs the serve extra: pip install 's2s-desktop[serve]' (missing: {exc.name})")
    from s2s_desktop.serve.server import bind, check_binding, read_api_keys

    keys = read_api_keys(args.api_keys) if args.api_keys else None
    warning = check_binding(args.host, keys, args.no_auth_on_network)
    if warning:
        print(f"s2s: {warning}", file=sys.stderr)
    sock = bind(args.host, args.port)
    try:
        return _serve(args, sock, keys)
    finally:
        sock.close()


def _serve(args, sock, keys) -> int:
    import dataclasses

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.torch_thread import TorchThread
    from s2s_desktop.serve.app import ServeSettings, build_app
    from s2s_desktop.serve.batcher import BatchWorker
    from s2s_desktop.serve.registry import library_models, model_files, open_models
    from s2s_desktop.serve.server import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("s2s.serve").setLevel(logging.INFO)
    settings = ServeSettings(
        char_limit=args.char_limit, body_limit=args.body_limit, timeout=args.timeout, api_keys=keys,
        log_text=args.log_text, decode=dataclasses.replace(DecodeOptions(), beam=args.beam, alternatives=0),
    )
    only = library_models(lambda line: print(f"s2s: {line}", file=sys.stderr)) if args.library else {}
    named = args.model or args.models or not args.library  # model_files gives the built-in ones when none is named
    files = list(only) + (model_files(args.model, args.models) if named else [])
    torch_thread = TorchThread()  # every model loads and decodes there: torch is 3x slower on two threads
    try:
        registry = open_models(
            list(dict.fromkeys(files)),
            lambda translator, name: BatchWorker(translator, name, max_queue=args.queue, runner=torch_thread.call),
            args.device, args.threads, args.precision, report=lambda line: print(f"model {line}", flush=True),
            only=only, runner=torch_thread.call,
        )
        run(build_app(registry, settings), sock, grace=min(args.timeout, 10))
    finally:
        torch_thread.close()
    return 0
