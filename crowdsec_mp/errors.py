"""Exceptions shared across the project.

Every error raised while loading configuration names where it comes from
(file, item, field) so that the operator can fix it without reading code.
"""


class CrowdsecMPError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(CrowdsecMPError):
    """A configuration, hub item or pattern file is invalid (load time)."""

    def __init__(self, message, *, file=None, item=None, field=None):
        self.file = file
        self.item = item
        self.field = field
        where = ", ".join(
            f"{label} {value!r}" if label != "file" else str(value)
            for label, value in (("file", file), ("item", item), ("field", field))
            if value
        )
        super().__init__(f"{where}: {message}" if where else message)


class BootError(CrowdsecMPError):
    """A process could not start (bad config, port in use...)."""


class ProtocolError(CrowdsecMPError):
    """A wire message could not be decoded."""
