"""Ultralytics without the network: called once before anything imports ultralytics.

Ultralytics phones home in several places (settings sync, logger integrations, a font download on the first
dataset check, an AMP check that downloads weights). Hospitals run this platform on closed networks and tests
must not touch the internet, so every one of them is switched off here, in code, not only in a shell.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

_lock = threading.Lock()
_done = False

LOGGER_INTEGRATIONS = ("clearml", "comet", "dvc", "hub", "mlflow", "neptune", "raytune", "tensorboard", "wandb")


def offline_environment() -> Path:
    """The cheap half, run at start-up (AppConfig.ready): environment and fonts, no ultralytics import (which
    costs ~3 s of torch import that web processes and management commands should not pay)."""
    from django.conf import settings

    config_dir = Path(getattr(settings, "YOLO_CONFIG_DIR", None) or os.environ["YOLO_CONFIG_DIR"])
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    # check_font() looks in Ultralytics' user config folder ($YOLO_CONFIG_DIR/Ultralytics) and downloads Arial
    # from GitHub when it is missing; matplotlib's DejaVu Sans stands in.
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for folder in (config_dir, config_dir / "Ultralytics"):
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            if not (folder / name).exists() and dejavu.exists():
                shutil.copyfile(dejavu, folder / name)
    return config_dir


def ultralytics_offline() -> Path:
    """Configures Ultralytics for offline use (idempotent); returns its config folder. Call before the first
    `from ultralytics import YOLO` (the adapter does) so that the settings land in the project's folder."""
    global _done
    with _lock:
        config_dir = offline_environment()
        if _done:
            return config_dir
        from ultralytics.utils import SETTINGS

        wanted = {"sync": False, **{key: False for key in LOGGER_INTEGRATIONS if key in SETTINGS}}
        wanted["runs_dir"] = str(config_dir / "runs")
        wanted["weights_dir"] = str(config_dir / "weights")
        wanted["datasets_dir"] = str(config_dir / "datasets")
        if any(SETTINGS.get(key) != value for key, value in wanted.items()):
            SETTINGS.update(wanted)
        from mlbackend.yolo_modules import register_modules

        register_modules()
        _done = True
        return config_dir
