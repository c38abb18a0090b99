"""Community: spaces, discussions, comments, reactions, direct messages, profiles, moderation."""
