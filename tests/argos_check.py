"""Install .argosmodel packages with argostranslate and translate with them, in a process of its own.

Run by tests/engine/test_export.py as `python tests/argos_check.py REQUEST.json` with HOME, the XDG
folders and ARGOS_PACKAGES_DIR pointing into a temporary folder (argostranslate reads its settings
and makes its folders when imported, so it must not be imported by the test process itself).
REQUEST: {"packages": [path, ...], "pairs": [[from, to, [sentence, ...]], ...]}. Prints one JSON
object: the installed packages (metadata, README) and the translations of each pair.

Everything runs through argostranslate's own code (package.install_from_path, get_installed_packages,
translate.get_installed_languages, Language.get_translation, ITranslation.translate and so
apply_packaged_translation with the package's SentencePiece tokenizer and CTranslate2) except the
sentence splitter: argostranslate's default, MiniSBD, downloads its ONNX model from the network on
first use (minisbd.models.get_model_file), which cannot run offline; it is replaced by one that keeps
each input as one sentence (the inputs are single sentences).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(request_path: str) -> int:
    from argostranslate import package, translate
    from argostranslate.sbd import ISentenceBoundaryDetectionModel

    class WholeInput(ISentenceBoundaryDetectionModel):
        def split_sentences(self, text: str) -> list[str]:
            return [text]

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    for path in request["packages"]:
        package.install_from_path(path)
    installed = [{"folder": p.package_path.name, "from_code": p.from_code, "to_code": p.to_code,
                  "from_name": p.from_name, "to_name": p.to_name, "package_version": p.package_version,
                  "readme": p.get_readme(), "tokenizer": type(p.tokenizer).__name__}
                 for p in package.get_installed_packages()]
    languages = {lang.code: lang for lang in translate.get_installed_languages()}
    translations = []
    for src, tgt, sentences in request["pairs"]:
        translation = languages[src].get_translation(languages[tgt])
        translation.underlying.sentencizer = WholeInput()  # CachedTranslation -> PackageTranslation
        translations.append([translation.translate(s) for s in sentences])
    print(json.dumps({"installed": installed, "translations": translations}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
