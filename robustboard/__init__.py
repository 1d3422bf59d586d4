"""robustboard: versioned perturbed benchmark releases, robustness scoring, and a leaderboard."""

__version__ = "0.1.0"
