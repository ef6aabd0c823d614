"""The CLIs csup knows, one module each, behind the two interfaces of adapter.py that the flows use."""
