"""csup: a session supervisor for agent CLIs (clis/ lists the ones it knows)."""

__version__ = "0.1.0"
