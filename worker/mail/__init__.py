"""Mail: rendering templates, composing MIME, sending and reading messages."""
