"""Builder: turn a source benchmark into a versioned, deterministic, perturbed release."""
