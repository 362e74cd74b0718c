"""Strategy wire protocol: message types and framing."""
