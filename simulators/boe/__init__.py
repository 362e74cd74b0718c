"""Cboe BOE v2 exchange simulator."""
