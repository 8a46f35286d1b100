"""The switch: impact preview, lease, make-before-break execution, resume and rollback."""
