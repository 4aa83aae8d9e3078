"""Reporting: ablation tables (Markdown, CSV, LaTeX, JSON, W&B) and figures."""
