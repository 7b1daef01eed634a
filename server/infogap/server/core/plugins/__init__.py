"""The plugin host: hook specifications, the protocols of what plugins register, and the
pluggy manager that loads and calls them."""
