"""Strategy wire protocol: message types and framing."""

from obs.native import native_path

__path__ = native_path(__name__, __path__)
