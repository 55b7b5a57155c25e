"""Shared test set-up: pictures render off-screen, and hypothesis runs deterministically."""

import os

import matplotlib

matplotlib.use("Agg")

from hypothesis import settings  # noqa: E402

# Derandomized: the same examples on every run and every machine, so CI cannot flake.
settings.register_profile("raftlab", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "raftlab"))
