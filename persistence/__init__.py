"""SQLAlchemy 2 async models, queries, the unit of work with its after-commit hook, and migrations."""
