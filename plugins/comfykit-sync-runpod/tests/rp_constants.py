"""Values shared by the tests (a plain module: the tests directory is not a package)."""

KEY = "rp-secret-key-0123456789"
ENDPOINT = "ep1test"
