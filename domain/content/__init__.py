"""Content: a hub's tree of courses, modules and lessons (nodes.py), what a member sees of it
(tree.py, every node asked of the access evaluator), their progress (progress.py), and the rich
text sanitizer every body goes through (sanitize.py)."""
