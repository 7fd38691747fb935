"""Execution backends; each built-in backend is a plugin module registering its class."""
