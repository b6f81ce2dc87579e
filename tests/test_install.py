"""What `pip install` sets up: the server extension is enabled without more steps."""

from __future__ import annotations

import subprocess
import sys


def test_install_enables_the_server_extension() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    lines = (listing.stdout + listing.stderr).splitlines()
    ours = [line for line in lines if "dagstudio_jupyter" in line]
    assert any("enabled" in line for line in ours), lines
    assert any("OK" in line for line in ours), lines
