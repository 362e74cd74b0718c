"""Order-entry gateway: strategies over Unix sockets -> pre-trade risk -> venue sessions."""

__version__ = "0.1.0"

from obs.native import native_path

__path__ = native_path(__name__, __path__)
