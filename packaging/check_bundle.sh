#!/usr/bin/env bash
# Build the bundle (unless --no-build), then run it once, offline, and check that it translates.
#
#   packaging/check_bundle.sh [--no-build] [--training] [--x11] [MODEL.s2s]
#
# Runs  dist/s2s-desktop/s2s-desktop [MODEL] --smoke-test --text "I would like a cup of tea."
#       --screenshot build/check_bundle/main-window.png
# with QT_QPA_PLATFORM=offscreen, a throw-away S2S_DESKTOP_HOME and no network (a new, empty network
# namespace: `unshare -rn`, or `unshare -n` as root). Without MODEL the bundled model is used.
# Output goes to the console and to build/check_bundle/check_bundle.log. Exits 0 only when the
# app's JSON line says {"smoke_test": "ok"} with a non-empty translation.
#
# With --training (or CHECK_TRAINING=1) it also runs the bundle as the app's training child
# (`s2s-desktop --s2s-training-child`, packaging/check_training_child.py) on a tiny generated corpus for
# 12 steps and checks that it reports "finished" and saves a model. With --x11 the smoke test uses the
# real X11 platform plugin (xcb) on a virtual X server (xvfb-run, from the xvfb package) instead of
# offscreen.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build=1
training="${CHECK_TRAINING:-0}"
platform=offscreen
model_args=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --training) training=1 ;;
        --x11) platform=xcb ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) model_args+=("$(realpath "$arg")") ;;
    esac
done

out="build/check_bundle"
mkdir -p "$out"
log="$out/check_bundle.log"
: > "$log"
say() { echo "$@" | tee -a "$log"; }

if [[ $build -eq 1 ]]; then
    NICE="${NICE:-15}" packaging/build.sh 2>&1 | tee -a "$log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { say "FAIL: build failed"; exit 1; }
fi
exe="dist/s2s-desktop/s2s-desktop"
[[ -x "$exe" ]] || { say "FAIL: $exe not found (run without --no-build)"; exit 1; }
say "bundle: $(du -sh dist/s2s-desktop | cut -f1)  $exe"

# No network: a new network namespace has only a loopback interface, which is down.
offline=()
if unshare -rn true 2>/dev/null; then
    offline=(unshare -rn)
elif [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
    offline=(unshare -n)
fi
if [[ ${#offline[@]} -gt 0 ]]; then
    say "network: none (${offline[*]})"
else
    say "network: WARNING: could not create a network namespace (unshare -rn / unshare -n); running WITH network"
fi

home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
screenshot="$root/$out/main-window.png"
rm -f "$screenshot"
cmd=("$exe" "${model_args[@]}" --smoke-test --text "I would like a cup of tea." --screenshot "$screenshot")
display=()
if [[ $platform == xcb ]]; then
    command -v xvfb-run >/dev/null || { say "FAIL: --x11 needs xvfb-run (apt-get install -y xvfb xauth)"; exit 1; }
    display=(xvfb-run -a -s "-screen 0 1280x800x24")
fi
say "run (QT_QPA_PLATFORM=$platform): $(printf '%q ' "${display[@]}" "${cmd[@]}")"
start=$(date +%s%N)
env QT_QPA_PLATFORM="$platform" S2S_DESKTOP_HOME="$home" \
    timeout 300 "${offline[@]}" "${display[@]}" "${cmd[@]}" > "$out/stdout.txt" 2> "$out/stderr.txt"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
seconds="$((ms / 1000)).$(printf %03d $((ms % 1000)))"
say "exit code: $rc  (wall ${seconds} s)"
say "--- stdout"
tee -a "$log" < "$out/stdout.txt"
say "--- stderr (last 40 lines)"
tail -n 40 "$out/stderr.txt" | tee -a "$log"
say "---"

status=0
json="$(grep -E '^\{.*"smoke_test"' "$out/stdout.txt" | tail -n 1)"
if [[ -z "$json" ]]; then
    say "FAIL: no {\"smoke_test\": ...} line on stdout"
    status=1
elif ! python3 - "$json" <<'EOF' 2>&1 | tee -a "$log"
import json, sys
line = json.loads(sys.argv[1])
ok = line.get("smoke_test") == "ok" and str(line.get("translation") or "").strip()
print(("OK" if ok else "FAIL") + f": smoke_test={line.get('smoke_test')!r} translation={line.get('translation')!r} "
      f"model={line.get('model')!r} seconds={line.get('seconds')!r}")
sys.exit(0 if ok else 1)
EOF
then
    status=1
fi
[[ $rc -eq 0 ]] || { say "FAIL: exit code $rc"; status=1; }
if [[ -s "$screenshot" ]]; then
    say "screenshot: $out/main-window.png ($(stat -c %s "$screenshot") bytes)"
else
    say "note: no screenshot written"
fi

if [[ $training -eq 1 ]]; then
    say "=== training child: $exe --s2s-training-child (tiny generated corpus, 12 steps)"
    env QT_QPA_PLATFORM=offscreen S2S_DESKTOP_HOME="$home" timeout 300 \
        python3 packaging/check_training_child.py "$home/train" "$out" "${offline[@]}" "$exe" --s2s-training-child \
        2>&1 | tee -a "$log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { tail -n 20 "$out/training.stderr" | tee -a "$log"; status=1; }
fi

[[ $status -eq 0 ]] && say "PASS" || say "FAIL"
exit $status
