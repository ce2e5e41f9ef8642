"""A real headless Chromium for the tests that look at what ``report.html`` renders.

:func:`screenshot` opens a page in Debian's ``chromium`` (``./dev test``
installs it) and returns the PNG it painted; :func:`colour_counts` says how
many pixels of given colours it has, which is how a test knows the chart's
bars were drawn, and drawn where they belong, rather than only written into
the file. Needs Pillow (the ``dev`` extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from PIL import Image

__all__ = ["BrowserMissingError", "colour_counts", "find_chromium", "screenshot"]

_NAMES: Final = ("chromium", "chromium-browser")
_TIMEOUT: Final = 120.0


class BrowserMissingError(RuntimeError):
    """No Chromium to open pages with."""


def find_chromium() -> str:
    """The path of the ``chromium`` executable.

    Raises:
        BrowserMissingError: none on ``PATH`` (the message says how to get one).
    """
    for name in _NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise BrowserMissingError(
        "no chromium on PATH: `./dev test` installs Debian's chromium "
        "(or run `apt-get install --no-install-recommends chromium` as root)"
    )


def screenshot(page: Path, output: Path, *, width: int = 1280, height: int = 1600) -> Path:
    """Render ``page`` headless at ``width`` x ``height`` and save the PNG to ``output``.

    Chromium runs with a throw-away profile and without network access to
    anything but the file itself (a self-contained page needs none).

    Raises:
        BrowserMissingError: no Chromium.
        RuntimeError: Chromium failed or wrote no screenshot.
    """
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # tests run as root in CI, where the sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--force-device-scale-factor=1",
            "--proxy-server=127.0.0.1:9",  # any fetch the page tried would fail
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={output}",
            page.resolve().as_uri(),
        ]
        env = {**os.environ, "HOME": profile}
        result = subprocess.run(
            command, capture_output=True, timeout=_TIMEOUT, check=False, env=env
        )
    if result.returncode != 0 or not output.is_file():
        tail = result.stderr.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"chromium exited {result.returncode} without a screenshot:\n{tail}")
    return output


def colour_counts(png: Path, colours: Iterable[str]) -> dict[str, int]:
    """How many pixels of ``png`` have exactly each of ``colours`` (``#rrggbb``)."""
    wanted: dict[tuple[int, ...], str] = {_rgb(colour): colour for colour in colours}
    counts = dict.fromkeys(wanted.values(), 0)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        for count, pixel in rgb.getcolors(maxcolors=rgb.width * rgb.height) or ():
            name = wanted.get(pixel) if isinstance(pixel, tuple) else None
            if name is not None:
                counts[name] = count
    return counts


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.removeprefix("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
