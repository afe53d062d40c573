"""Where bars come from: the venue-neutral feed loop, the venues' parts, CSV files, the synthetic market."""
