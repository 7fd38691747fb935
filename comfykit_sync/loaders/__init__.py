"""Workflow loaders; each built-in loader is a plugin module implementing
``comfykit_load_workflow``."""
