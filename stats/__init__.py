"""The statistics of the reader studies and of the model: pure numpy/scipy functions that take arrays and return
small frozen result objects, raising ValueError on bad input.

Imports no Django (a test checks it): the selectors build the arrays, the dashboard shows the results. Where each
family lives:

- ``stats.agreement``: Cohen's and Fleiss' kappa, Krippendorff's alpha, ICC, percent agreement.
- ``stats.accuracy``: binary and multi-class accuracy metrics against ground truth, ROC AUC.
- ``stats.comparisons``: McNemar, DeLong's test of two AUCs, paired reading times.
- ``stats.bootstrap``: the patient (cluster) bootstrap of pooled-disc metrics and kappa.
- ``stats.mrmc``: Obuchowski-Rockette MRMC analysis (Hillis df) of fully crossed reader studies, OR power.
- ``stats.detection``: detection P/R/F1, AP, mAP and fROC (IoU and matching are :mod:`geometry`'s).
- ``stats.results``: the shared result records, Wilson/Wald intervals, Landis-Koch bands, label encoding.
"""
