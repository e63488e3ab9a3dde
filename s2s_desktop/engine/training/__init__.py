"""The training loop, its schedule, the run folder, resume state, the training child and distributed runs."""
