#!/usr/bin/env bash
# Validate the desktop entry and the AppStream metainfo.
#   packaging/linux/validate.sh            (needs desktop-file-utils and appstream:
#                                           apt-get install -y desktop-file-utils appstream)
# Fails when desktop-file-validate prints anything (errors, warnings or hints) or when
# appstreamcli finds errors or warnings; pedantic and info notes are printed but allowed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
app_id="io.github.s2s_desktop.S2SDesktop"
status=0

for tool in desktop-file-validate appstreamcli; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y desktop-file-utils appstream)"; exit 2; }
done

echo "== desktop-file-validate $app_id.desktop"
out="$(desktop-file-validate "$here/$app_id.desktop" 2>&1)" || true
if [[ -n "$out" ]]; then echo "$out"; status=1; else echo "ok (no output)"; fi

echo "== appstreamcli validate --no-net --pedantic $app_id.metainfo.xml"
appstreamcli validate --no-net --pedantic "$here/$app_id.metainfo.xml" || status=1

echo "== icons"
missing=0
for f in "resources/icons/$app_id.svg" resources/icons/hicolor/{16,24,32,48,64,128,256,512}x*/apps/"$app_id.png"; do
    [[ -f "$root/$f" ]] || { echo "missing $f (run packaging/render_icons.py)"; missing=1; status=1; }
done
if [[ $missing -eq 0 ]]; then echo "ok (scalable + 8 sizes)"; fi

version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/s2s_desktop/__init__.py")"
echo "== release version (s2s_desktop/__init__.py: $version)"
if grep -q "<release version=\"$version\"" "$here/$app_id.metainfo.xml"; then
    echo "ok"
else
    echo "metainfo.xml has no <release version=\"$version\">: add one"; status=1
fi

exit $status
