"""Pre-trade risk: limits, checks and the chain every order passes."""
