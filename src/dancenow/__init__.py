"""dancenow: make anyone dance (Everybody Dance Now, Chan et al. 2018)."""

__version__ = "0.1.0"
