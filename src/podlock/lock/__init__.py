"""The PEP 751 lock: its model, read and written atomically (``pylock``), the inputs'
fingerprint, whether a lock is up to date (``status``), its system packages and
``podlock export``."""
