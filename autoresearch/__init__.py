"""autoresearch: an autonomous experiment loop for any project."""

__version__ = "0.1.0"
