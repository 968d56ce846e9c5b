"""Auth repositories: users, roles (with their permissions and members) and id counters."""
