"""Staff identity: users, passwords, sessions with rotating refresh tokens, access tokens, API keys."""
