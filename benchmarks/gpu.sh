#!/usr/bin/env bash
# The GPU check, as one command for a lent CUDA machine: a cold-cache `attnlab reproduce --full`
# and then `benchmarks/run.py` (its experiment rows read from that reproduction), every output
# logged under $OUT (default ./gpu-out) with the machine and package versions.
#
#   bash benchmarks/gpu.sh [REPRODUCE_SECONDS [SECONDS_PER_KERNEL_FAMILY]]
#
# STAGES (default "reproduce kernels") picks the stages. Each runs under `timeout` (SIGINT
# first, so an interrupted reproduction stays resumable: run the script again on the same
# machine and it resumes). Python packages missing on the
# machine can travel as wheels in ./.whl (see docs/gpu.md); they are installed to /tmp/site.
# Run from the repository root; attnlab is imported from ./src.
set -u
out=${OUT:-gpu-out}
results=${RESULTS:-results/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# A microVM's RAM can start small and grow on use: size-check runs against a fixed budget.
export ATTNLAB_MAX_MEMORY=${ATTNLAB_MAX_MEMORY:-64e9}
export ATTNLAB_COMPILE_CACHE=${ATTNLAB_COMPILE_CACHE:-$(mktemp -d)}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm \
        --format=csv || true
    echo "cpus: $(nproc)"
    python3 --version
    python3 - <<'EOF'
import importlib
for name in ("jax", "jaxlib", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "pydantic"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as err:  # report, go on: the reproduction says what it lacks
        print(name, "MISSING", err)
import jax
print("devices", jax.devices(), "backend", jax.default_backend())
EOF
} 2>&1 | tee "$out/env.txt"

stages=${STAGES:-reproduce kernels}
if [[ " $stages " == *" reproduce "* ]]; then
start=$(date +%s)
timeout -s INT -k 30 "${1:-420}" python3 -m attnlab reproduce --full --out "$results" \
    --no-progress 2>&1 | tee "$out/reproduce.log"
echo "reproduce rc=${PIPESTATUS[0]} after $(($(date +%s) - start)) s" | tee -a "$out/reproduce.log"
fi

# the experiment rows (read from that reproduction), then each family's kernels on its own
# clock, so that one slow family cannot take the others' rows with it
python3 benchmarks/run.py --results "$results" --no-kernels --markdown 2>&1 | tee "$out/bench.md"
if [[ " $stages " == *" kernels "* ]]; then
for family in subspace pooling erf_slr gslr; do
    start=$(date +%s)
    timeout -s INT -k 30 "${2:-90}" python3 benchmarks/run.py --only "$family" --markdown \
        2>&1 | tee -a "$out/bench.md"
    echo "bench $family rc=${PIPESTATUS[0]} after $(($(date +%s) - start)) s" | tee -a "$out/bench.md"
done
fi

# the results (report, tables, figures, manifests) in one archive, without bulky arrays if large
tar czf "$out/results.tgz" "$results" 2>/dev/null
if [ "$(stat -c %s "$out/results.tgz")" -gt 15000000 ]; then
    find "$results" \( -name '*.json' -o -name '*.md' -o -name '*.html' -o -name '*.png' \
        -o -name '*.parquet' -o -name '*.toml' \) -print0 |
        tar czf "$out/results.tgz" --null -T -
fi
ls -l "$out"
