"""Downloads, into .whl/, Python 3.12 x86-64 wheels of what this venv has and the lent GPU machine's image lacks,
for bench/gpu_check.sh (that machine reaches no package index). Torch, CUDA, numpy, scipy, OpenCV, lxml and the
other large packages are the image's own; what only PostgreSQL, compressed DICOM or the Label Studio SDK's code
generator need stays behind. A call may carry 64 MiB: polars (which Ultralytics' trainer imports, ~52 MiB) goes
to .whl-big/ and travels in a call of its own (see gpu_check.sh).

    .venv/bin/python bench/gpu_wheels.py
"""
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ON_THE_IMAGE = re.compile(
    r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*|numpy|scipy|pandas|matplotlib|pillow|"
    r"opencv-python(-headless)?|scikit-learn|scikit-image|pyarrow|sympy|networkx|statsmodels|contourpy|fonttools|"
    r"kiwisolver|pyyaml|requests|urllib3|idna|certifi|charset-normalizer|psutil|packaging|pytest|pluggy|"
    r"iniconfig|hypothesis|sortedcontainers|attrs|jinja2|markupsafe|filelock|fsspec|mpmath|typing-extensions|"
    r"six|python-dateutil|tqdm|pygments|setuptools|pip|wheel|patsy|joblib|threadpoolctl|seaborn|"
    r"playwright|greenlet|pyee|gunicorn|lxml|psycopg2-binary|pylibjpeg.*|pyjpegls|datamodel-code-generator|black|"
    r"faker|nltk|xarray|factory-boy|isort|pathspec|pytokens|mypy-extensions|platformdirs|watchfiles)$")
BIG = 20 * 2**20


def main():
    out, big = Path(".whl"), Path(".whl-big")
    out.mkdir(exist_ok=True)
    big.mkdir(exist_ok=True)
    wanted = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                     if not ON_THE_IMAGE.match(d.metadata["Name"].lower().replace("_", "-"))})
    platforms = [arg for tag in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014",
                                 "manylinux1", "manylinux_2_24", "manylinux_2_31", "manylinux_2_34")
                 for arg in ("--platform", f"{tag}_x86_64")]
    for requirement in wanted:  # one at a time: a package without a 3.12 wheel is reported, not fatal
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                 "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(out),
                                 requirement], capture_output=True, text=True)
        if result.returncode:
            print(f"no wheel: {requirement}", file=sys.stderr)
    for wheel in out.glob("*.whl"):
        if wheel.stat().st_size > BIG:
            wheel.replace(big / wheel.name)
    sizes = {folder.name: {"wheels": len(list(folder.glob("*.whl"))),
                           "mib": round(sum(p.stat().st_size for p in folder.glob("*.whl")) / 2**20, 1)}
             for folder in (out, big)}
    print(json.dumps(sizes))  # each must stay under a device call's 64 MiB


if __name__ == "__main__":
    main()
