#!/usr/bin/env bash
# The Transformer issue's GPU check, one prepared run under 8 minutes (bench/gpu_check.py says what it
# measures). Here, before the run: the data does not travel with the tree, so copy what it reads into an
# ignored folder, and bring platformdirs (the only requirement the GPU image lacks) as a wheel:
#   mkdir -p .gpu/data && cp ../shared/data/multi30k/raw/{train,val,test_2016_flickr}.{en,de}.gz .gpu/data/
#   echo /.gpu/ >> .git/info/exclude
#   pip download --no-deps --only-binary=:all: -d .gpu/whl platformdirs
# then run `bash bench/gpu_check.sh .gpu/data` there, carrying .gpu; the figures go to $OUT when it is set.
set -u
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/multi30k/raw}
PY=${PYTHON:-python3}
if [ -d .gpu/whl ]; then
  $PY -m pip install -q --no-index --no-deps --target /tmp/gpu_site .gpu/whl/*.whl && export PYTHONPATH=/tmp/gpu_site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null || true
LOG=${OUT:-/tmp}/gpu_check.log
timeout 470 $PY bench/gpu_check.py --data "$DATA" "${@:2}" 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
