"""Values shared by the tests (a plain module: the tests directory is not a package)."""

KEY = "cc-secret-key-0123456789"
