"""This machine's facts and files: paths, the lock, records, processes, the event log, notifications."""
