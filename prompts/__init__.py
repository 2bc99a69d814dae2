"""The prompt templates (*.md, *.txt). Installed as the package `rag.templates`, so a wheel carries them."""
