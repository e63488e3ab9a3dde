"""Entry point of the `s2s-desktop` command: the window first, the engine right after.

Only PySide6 and the torch-free parts of the project are imported before the window is shown; the
engine thread imports torch once the event loop runs, so the first paint does not wait for it.
Uncaught exceptions in any thread are logged and shown in the window's message bar instead of
killing the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import traceback


def _install_excepthooks(window) -> None:
    log = logging.getLogger("s2s_desktop")

    def report(kind: str, exc_type, exc, tb) -> None:
        log.error("%s:\n%s", kind, "".join(traceback.format_exception(exc_type, exc, tb)))
        try:
            window.show_message(f"Unexpected error ({exc_type.__name__}: {exc}). Details are in the log.")
        except RuntimeError:  # the window's C++ object may be gone during shutdown
            log.debug("window gone; error only logged")

    sys.excepthook = lambda t, e, tb: report("uncaught exception", t, e, tb)
    threading.excepthook = lambda args: report(
        f"uncaught exception in thread {args.thread.name if args.thread else '?'}",
        args.exc_type, args.exc_value, args.exc_traceback,
    )


def _setup_logging() -> None:
    from s2s_desktop import paths

    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        paths.log_dir().mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(paths.log_dir() / "s2s-desktop.log", encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="s2s-desktop", description="Train, run and inspect translation models.")
    parser.add_argument("model", nargs="?", help="a model file (.s2s) to open instead of the last one, or a "
                                                 "Hugging Face Marian (OPUS-MT) model folder to import")
    parser.add_argument("--text", help="text to translate once the model is open")
    parser.add_argument("--smoke-test", action="store_true",
                        help="open the window, translate --text (a sample sentence by default) with MODEL or the "
                             "bundled model, print the result as a JSON line and quit (exit status 1 on failure); "
                             "used to check installs and packaged bundles")
    parser.add_argument("--screenshot", metavar="PNG", help="with --smoke-test: save the window to this file")
    parser.add_argument("--trace-startup", action="store_true",
                        help="print start-up milestones (JSON lines with wall-clock times) and quit after the "
                             "first translation (used by bench/bench_startup.py)")
    args, _qt_args = parser.parse_known_args(argv[1:])
    return args


def _trace(window, app, quit_after_translation: bool) -> None:
    """Report when the window first paints, the engine loads, the model opens and a text is translated."""
    from PySide6.QtCore import QEvent, QObject

    def emit(name: str) -> None:
        print(json.dumps({"milestone": name, "time": time.time()}), flush=True)

    class FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.seen = False

        def eventFilter(self, obj, event) -> bool:
            if not self.seen and event.type() == QEvent.Type.Paint and obj.isWidgetType() and obj.window() is window:
                self.seen = True
                emit("first_paint")
            return False

    window._first_paint = FirstPaint()  # kept alive by the window
    app.installEventFilter(window._first_paint)
    window.client.engine_loaded.connect(lambda _info: emit("engine_loaded"))
    window.client.model_opened.connect(lambda _info: emit("model_opened"))

    def translated(_result, _seconds) -> None:
        emit("first_translation")
        if quit_after_translation:
            window.close()
            app.quit()

    window.client.translated.connect(translated)


def _smoke_test(window, app, args: argparse.Namespace) -> None:
    """Print one JSON line about the first translation (or the first failure), then quit."""
    from PySide6.QtCore import QTimer

    started = time.monotonic()

    def finish(report: dict) -> None:
        print(json.dumps(report, ensure_ascii=False), flush=True)
        window.close()
        app.exit(0 if report["smoke_test"] == "ok" else 1)

    def translated(result, _seconds) -> None:
        text = getattr(result, "text", "") or ""

        def report() -> None:  # after the attention map and output have painted
            if args.screenshot:
                window.grab().save(args.screenshot)
            finish({"smoke_test": "ok" if text.strip() else "failed", "translation": text,
                    "source": window.panel.source.toPlainText(),
                    "model": window.model_info.path if window.model_info else None,
                    "device": window.settings.device, "seconds": round(time.monotonic() - started, 2)})

        QTimer.singleShot(300, report)

    window.client.translated.connect(translated)
    window.client.failed.connect(lambda failure: finish(
        {"smoke_test": "failed", "action": failure.action, "message": failure.message}))
    QTimer.singleShot(180_000, lambda: finish({"smoke_test": "failed", "message": "no translation after 180 s"}))


def after_first_paint(window, callback, fallback_ms: int = 1500) -> None:
    """Run `callback` once the window has painted (or after `fallback_ms`, if no paint comes, as on
    some offscreen platforms). Starting the engine earlier kept the window black for ~1.5 s on a
    first run: the engine thread's torch import loads shared libraries while holding the GIL, and the
    GUI thread could not paint until it let go."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__(window)
            self.done = False

        def eventFilter(self, obj, event) -> bool:
            if not self.done and event.type() == QEvent.Type.Paint and obj.isWidgetType() and obj.window() is window:
                QTimer.singleShot(0, self.fire)  # after this paint has reached the screen
            return False

        def fire(self) -> None:
            if not self.done:
                self.done = True
                app = QApplication.instance()
                if app is not None:
                    app.removeEventFilter(self)
                callback()

    from PySide6.QtWidgets import QApplication

    watcher = FirstPaint()
    QApplication.instance().installEventFilter(watcher)
    QTimer.singleShot(fallback_ms, watcher.fire)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "--s2s-training-child":  # a frozen bundle re-executed as the trainer
        from s2s_desktop.engine.training.child import child_main

        return child_main(argv[2:])  # [--check]: or as the corpus check
    args = _parse_args(argv)
    from s2s_desktop.platform_check import check_platform

    problem = check_platform()
    if problem:  # Qt would abort with a core dump while loading its xcb plugin
        print(problem, file=sys.stderr)
        return 2
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui import qt_fixes

    problem = qt_fixes.problem()
    if problem:  # this PySide6 release would abort the interpreter a few minutes in
        print(problem, file=sys.stderr)
        qt_fixes.exit_now(2)
    from s2s_desktop import __version__
    from s2s_desktop.assets import app_icon
    from s2s_desktop.gui.main_window import MainWindow
    from s2s_desktop.paths import APP_ID

    _setup_logging()
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("s2s-desktop")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("s2s-desktop")
    app.setDesktopFileName(APP_ID)  # Wayland/X11 match the window to the installed .desktop file and icon
    icon = app_icon()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    window = MainWindow()
    _install_excepthooks(window)
    if args.trace_startup:
        _trace(window, app, quit_after_translation=bool(args.text))
    if args.smoke_test:
        _smoke_test(window, app, args)
    window.show()

    def start() -> None:  # runs once the event loop has shown the window
        window.start_engine(open_last=args.model is None and not args.smoke_test)
        if args.model:
            window.open_model(args.model)
        elif args.smoke_test:
            window.open_bundled_model(sample=args.text is None)
        if args.text:
            window.panel.source.setPlainText(args.text)
            window.panel.request_translation()  # queued behind the model: runs as soon as it is open

    after_first_paint(window, start)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
