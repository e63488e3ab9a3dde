#!/usr/bin/env bash
# Build the one-folder bundle dist/s2s-desktop/ with PyInstaller.
#
#   packaging/build.sh [extra pyinstaller options]
#
# Uses the CURRENT Python environment (the one `python` finds): it must have the app's dependencies
# installed with the CPU build of torch (see the top-level README); PyInstaller is added to it with
# `pip install -q pyinstaller` when missing. Whatever that environment holds is what gets frozen, so
# build from a clean virtual environment if this one has extra packages (the spec excludes the usual
# suspects: matplotlib, IPython, scipy, tensorboard, other Qt bindings ...).
#
# Writes build/pyinstaller/ (work files, reused by the next build) and dist/s2s-desktop/ (replaced),
# then adds the symlink dist/s2s-desktop/s2s (the command-line interface, see packaging/entry.py).
# Prints the build time and the bundle's size. Set NICE=15 to build at low priority.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python}"
nice_cmd=()
[[ -n "${NICE:-}" ]] && nice_cmd=(nice -n "$NICE")

if ! "$python" -m PyInstaller --version >/dev/null 2>&1; then
    echo "installing PyInstaller into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install -q "pyinstaller>=6.10"
fi
echo "python: $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
echo "pyinstaller: $("$python" -m PyInstaller --version)"
echo "torch: $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo missing)"

start=$(date +%s)
QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" "${nice_cmd[@]}" "$python" -m PyInstaller \
    --noconfirm --log-level WARN \
    --workpath build/pyinstaller --distpath dist \
    "$@" packaging/s2s-desktop.spec
seconds=$(( $(date +%s) - start ))

ln -sfn s2s-desktop dist/s2s-desktop/s2s
echo "build time: ${seconds} s"
echo "bundle size: $(du -sh dist/s2s-desktop | cut -f1)  (dist/s2s-desktop)"
