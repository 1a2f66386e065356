"""``verify``: re-hash artifacts against what DVC and run manifests recorded (see ``check``)."""
