"""Real baseline models and an OpenAI-compatible predictor that produce submissions for a release.

Everything here reads only the public files of a release folder (`manifest.json` and the parquet
files it lists): the hidden labels are never opened, so a baseline's score is a real measurement.
"""
