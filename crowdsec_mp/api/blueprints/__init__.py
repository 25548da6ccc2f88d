"""Thin Flask handlers: parse the request, call queries, render (spec/lapi.md)."""
