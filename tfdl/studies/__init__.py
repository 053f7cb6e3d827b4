"""``tfdl study NAME``: the course's experiments as commands (issue 16). See :mod:`tfdl.studies.catalog`."""
