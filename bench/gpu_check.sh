#!/usr/bin/env bash
# The GPU checks of the ML backend, for a lent GPU machine (the device tool): the tests marked gpu, then the
# inference and training benchmarks on CUDA; their JSON lines end the output. The machine has PyTorch but no
# package index: the platform's other packages travel as wheels made here by bench/gpu_wheels.py, in two
# calls because a call carries at most 64 MiB (installs land in .site/, kept while the machine stays warm):
#
#   run(carry=[".whl-big"], command="bash bench/gpu_check.sh install")
#   run(carry=[".whl"],     command="bash bench/gpu_check.sh")
#
# SQLite and in-process tasks (no PostgreSQL or Redis there).
set -euo pipefail
export PYTHONUNBUFFERED=1
for folder in .whl-big .whl; do
    if compgen -G "$folder/*.whl" > /dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target .site "$folder"/*.whl
    fi
done
[ "${1:-}" = install ] && exit 0
export PYTHONPATH="$PWD/.site"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -m pytest -q -m gpu -p no:cacheprovider tests/mlbackend
python3 bench/inference.py --rounds 3
python3 bench/train.py --cases 40 --epochs 5 --imgsz 512
