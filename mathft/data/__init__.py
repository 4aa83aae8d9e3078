"""Data layer: source readers, the paper's splits, PRM800K conversion, mixtures, templates."""
