"""Leaderboard: the Gradio Space that ranks models by accuracy and robustness."""
