"""ftboot: grow a handful of hand-written examples into a reviewed, validated fine-tuning dataset.

The package is a library of stage modules (seeds, generate, review, build, upload, status) with a thin
click front end in `cli/`. Nothing outside `cli/` imports click.
"""

__version__ = "0.1.0"
