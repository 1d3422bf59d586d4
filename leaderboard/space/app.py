"""Hugging Face Space entry point: the robustboard leaderboard, configured by environment variables.

`robustboard space --out DIR --store hf://ORG/NAME` copies this file into a Space folder together with
the packages it imports, a README whose YAML tells the Spaces runtime how to run it (sdk: gradio,
app_file: app.py) and `space.json`, the defaults chosen at bundling time. Space variables
(ROBUSTBOARD_STORE, ROBUSTBOARD_TITLE, ...; see the README) override those defaults.
"""

import json
import os
from pathlib import Path

_DEFAULTS = Path(__file__).with_name("space.json")
if _DEFAULTS.is_file():
    for _key, _value in json.loads(_DEFAULTS.read_text("utf-8")).items():
        os.environ.setdefault(_key, str(_value))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from leaderboard.app import serve_from_env  # noqa: E402  (the environment above must be set first)

if __name__ == "__main__":
    serve_from_env()
