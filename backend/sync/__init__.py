"""Delta sync of a team's scope for offline clients: GET /api/v1/sync/teams/{id}."""
