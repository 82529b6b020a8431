"""Presentation: renderers take records and return text, JSON-ready dicts or figures; never argv."""
