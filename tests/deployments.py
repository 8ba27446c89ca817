"""The built-in Pueblo deployment copied into a test's folder, edited as the test needs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from dfr.deployment import builtin_deployment_path


def edited_pueblo(folder: Path, pattern: str = "", replacement: str = "") -> Path:
    """Copy Pueblo's files into `folder`, replace the one line of its TOML that matches
    `pattern` (a multi-line regular expression) with `replacement`; returns the TOML path."""
    source = builtin_deployment_path()
    for path in source.parent.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    toml = folder / source.name
    if pattern:
        text, count = re.subn(pattern, replacement, toml.read_text(), flags=re.MULTILINE)
        assert count == 1, f"{pattern!r} matches {count} lines of {source}, not one"
        toml.write_text(text)
    return toml


def short_battery_pueblo(folder: Path, endurance_s: int = 600) -> Path:
    """Pueblo with drones of `endurance_s` (so an overwatch relief is due within
    minutes, not half an hour), 60 s on scene by default and a 30 s overwatch handover."""
    path = edited_pueblo(folder)
    text = path.read_text().replace("endurance_s = 2400", f"endurance_s = {endurance_s}")
    text = text.replace("on_scene_s = 600", "on_scene_s = 60")
    path.write_text(text + "\n[overwatch]\nhandover_s = 30\nseparation_m = 40\n")
    return path
