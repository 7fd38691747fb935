"""``python -m comfykit_sync``: the ``comfykit`` command."""

import sys

from .cli import main

sys.exit(main())
