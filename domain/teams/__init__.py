"""Teams (the creator-side tenant), their staff members and roles, and what each role may do."""
