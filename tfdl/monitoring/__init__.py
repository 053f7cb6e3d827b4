"""Drift monitoring: a reference profile of the training data stored with each exported version
(``profile``), a bounded log of served requests (``requestlog``), the comparison of the two (``drift``)
and the report of ``tfdl monitor`` (``report``)."""
