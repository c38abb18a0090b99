"""The content context at the edge: the content tree, team side and member side."""
