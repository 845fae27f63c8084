"""Attachments: intake (checks), scrubbing (metadata removal, in a child process) and storage."""
