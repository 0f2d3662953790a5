"""Interchange formats, one module per format: each reads or writes plain data (``dataset.ExportSet``, Label
Studio's JSON) and imports no Django, so the dataset export, the ML training export and the Label Studio ML
protocol all write the same lines. Box arithmetic goes through ``geometry``."""
