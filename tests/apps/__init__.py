"""Small apps the tests run as their own processes: ``python -m tests.apps.<name> <command>``."""
