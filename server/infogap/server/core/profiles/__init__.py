"""Customer profiles: computed facts, the contributors that assemble a profile, segments and
clusters."""
