"""Order-entry gateway: strategies over Unix sockets -> pre-trade risk -> venue sessions."""

__version__ = "0.1.0"
