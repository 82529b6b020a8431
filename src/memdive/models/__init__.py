"""Typed records every layer above the kernel speaks: frozen dataclasses, units in field names.

One module per area (`models.process`, `models.system`, ...); no I/O here.
"""
