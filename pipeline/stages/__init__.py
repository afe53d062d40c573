"""One module per qtx stage: each is the function a CLI command runs."""
