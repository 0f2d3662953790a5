"""A project's dataset export as one zip file, for the download page."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from annotation.models import Project
from interchange.exports import dataset_export


def dataset_zip(project: Project, *, fmt: str):
    """An open temporary file holding the zip of the ``fmt`` export (at position 0) and the number of files in it.

    The export is written to a temporary folder and zipped into a temporary file, so a large dataset is never
    held in memory; the file is deleted when closed. Raises ValueError for an unknown format."""
    archive = tempfile.TemporaryFile()
    with tempfile.TemporaryDirectory() as folder:
        written = dataset_export(project, fmt=fmt, out_dir=folder)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for relative in written:
                zipped.write(Path(folder) / relative, arcname=f"{project.slug}-{fmt}/{relative}")
    archive.seek(0)
    return archive, len(written)
