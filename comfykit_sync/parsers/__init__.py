"""Output parsers; each built-in parser is a plugin implementing ``comfykit_parse_output``."""
