"""Output parsers; each built-in parser is a plugin module implementing ``comfykit_parse_output``."""
