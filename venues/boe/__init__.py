"""Cboe US Equities BOE v2 venue."""
