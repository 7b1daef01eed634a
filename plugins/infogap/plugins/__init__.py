"""InfoGap's built-in plugins. Each is registered through the ``infogap`` entry-point group,
exactly like a third-party plugin, and can be disabled the same way."""
