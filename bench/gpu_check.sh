#!/usr/bin/env bash
# The GPU checks of the ML backend, for a lent GPU machine (the device tool): the tests marked gpu, then the
# inference and training benchmarks on CUDA; their JSON lines end the output. The machine has PyTorch but no
# package index: the platform's other packages travel as wheels made here by bench/gpu_wheels.py, in two
# calls because a call carries at most 64 MiB (installs land in .site/, kept while the machine stays warm):
#
#   run(carry=[".whl-big"], command="bash bench/gpu_check.sh install")
#   run(carry=[".whl"],     command="bash bench/gpu_check.sh")      # gpu tests, inference, training, levels (~7 min)
#   run(carry=[".whl"],     command="bash bench/gpu_check.sh al")   # active learning at scale, a call of its own
#   run(carry=[".whl"],     command="bash bench/gpu_check.sh al2")  # the same with the two-stage model
#
# `bash bench/gpu_check.sh tiny` runs every step with tiny settings and no CUDA needed: how the script is checked
# where no GPU is lent (make the wheels first, or run it in the project's .venv with PYTHON=.venv/bin/python).
# SQLite and in-process tasks (no PostgreSQL or Redis there).
set -euo pipefail
export PYTHONUNBUFFERED=1
for folder in .whl-big .whl; do
    if compgen -G "$folder/*.whl" > /dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target .site "$folder"/*.whl
    fi
done
mode=${1:-gpu}
[ "$mode" = install ] && exit 0
export PYTHONPATH="$PWD/.site${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
case "$mode" in
    gpu)
        "$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
        "$py" -m pytest -q -m gpu -p no:cacheprovider tests/mlbackend
        "$py" bench/inference.py --rounds 3
        "$py" bench/train.py --cases 40 --epochs 5 --imgsz 512
        "$py" bench/level_classifier.py --train 80 --test 40 --epochs 20 --level-epochs 60 --imgsz 256 ;;
    al)
        # The scale the issue asks for: >= 500 cases, >= 8 rounds, enough epochs per round to learn.
        "$py" bench/active_learning.py --cases 500 --test 100 --initial 20 --step 20 --rounds 8 --epochs 10 \
            --seeds 1 --imgsz 256 --png "${OUT:-var/bench}/active_learning.png" ;;
    al2)
        # The same scale with the two-stage model: ranked by its per-level uncertainty, scored by level_score.
        "$py" bench/active_learning.py --cases 500 --test 100 --initial 20 --step 20 --rounds 8 --epochs 10 \
            --seeds 1 --imgsz 256 --model two-stage --level-epochs 20 \
            --png "${OUT:-var/bench}/active_learning_two_stage.png" ;;
    tiny)
        "$py" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu')"
        "$py" bench/inference.py --rounds 1
        "$py" bench/train.py --cases 4 --epochs 1 --imgsz 64 --batch 4
        "$py" bench/level_classifier.py --train 3 --test 2 --epochs 1 --level-epochs 1 --imgsz 64 --batch 4
        "$py" bench/active_learning.py --cases 16 --test 4 --initial 4 --step 4 --rounds 2 --epochs 1 --seeds 1 \
            --imgsz 64 --png "${OUT:-var/bench}/active_learning_tiny.png"
        "$py" bench/active_learning.py --cases 16 --test 4 --initial 4 --step 4 --rounds 2 --epochs 1 --seeds 1 \
            --imgsz 64 --model two-stage --level-epochs 1 --png "${OUT:-var/bench}/active_learning_two_stage_tiny.png" ;;
    *)
        echo "usage: bash bench/gpu_check.sh [install|gpu|al|al2|tiny]" >&2; exit 2 ;;
esac
