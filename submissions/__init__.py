"""Submissions: validate predictions, score them against hidden labels, keep every result."""
