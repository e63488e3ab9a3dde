"""Entry point of the `s2s-desktop` command: the window first, the engine right after.

Only PySide6 and the torch-free parts of the project are imported before the window is shown; the
engine thread imports torch once the event loop runs, so the first paint does not wait for it.
Uncaught exceptions in any thread are logged and shown in the window's message bar instead of
killing the app.
"""

from __future__ import annotations

import logging
import sys
import threading
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop import __version__
    from s2s_desktop.gui.main_window import MainWindow

    _setup_logging()
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("s2s-desktop")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("s2s-desktop")
    window = MainWindow()
    _install_excepthooks(window)
    models = [a for a in argv[1:] if not a.startswith("-")]
    window.show()
    QTimer.singleShot(0, window.start_engine)
    if models:
        QTimer.singleShot(0, lambda: window.open_model(models[0]))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
