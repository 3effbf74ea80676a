"""Quality measures: style, content, legibility and flicker, and comparisons with reference pictures."""
