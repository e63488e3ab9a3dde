"""`s2s serve`: the LibreTranslate HTTP API over the engine, the third front end beside the CLI and the GUI.

Plain Python, no Qt. `registry` opens one model per language pair, `batcher` runs one engine worker per
model that decodes the sentences of concurrent requests together, `textplan` and `html_text` turn a
request's text into sentences and back, `app` holds the ASGI routes (Starlette, the optional `serve`
extra) and `server` binds the socket and runs uvicorn.
"""
