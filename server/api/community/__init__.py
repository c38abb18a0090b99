"""The live community: spaces, discussions, comments, reactions, direct messages, the member
directory and moderation (docs/api.md)."""
