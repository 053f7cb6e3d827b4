"""The web page at ``/``: try a served model in a browser. Plain HTML and a little JavaScript, no build step.

It uses the server's own routes: ``/healthz`` (models), ``/v1/models/{name}`` (versions),
``.../metadata`` (the model card: app, task, labels, columns) and ``...:upload`` (a file in, label +
confidence + scores out). Per app: an image upload (vision, image anomaly), a text box (text), one field
per column or a CSV file (tabular, row anomaly), a pasted CSV window (time series). For image
classifiers, the heatmap of ``...:explain`` over the image (Grad-CAM from the version's ``gradcam``
signature; occlusion for versions without one), captioned with the method; for text, word highlights.
"""

from importlib.resources import files

PAGE = (files("tfdl.serving") / "static" / "index.html").read_text(encoding="utf-8")
