"""Detection metrics for the YOLO model and for readers' boxes: P/R/F1, AP, mAP and fROC.

Pure numpy/scipy, no Django. Boxes are ``[x0, y0, x1, y1]`` in pixels (x1 >= x0, y1 >= y0). The metric
functions take a list of per-image dicts::

    {"truth": [(cls, box), ...], "pred": [(cls, box, score), ...]}

Matching is class-aware (a prediction can only match a ground-truth box of its own class) and one-to-one, by
the project's rule in :mod:`geometry`, which owns IoU and matching. Scored predictions (the model's) are
matched greedily by descending score as in the COCO evaluation (each prediction takes the unmatched
ground-truth box with the highest IoU >= threshold); greedy-by-score matching of the top-k predictions does not
depend on the lower-scored ones, so one matching serves every score threshold (PR curve, fROC). Unscored
predictions (score None: a reader's boxes) are paired as two readers' boxes are, most pairs first and then the
largest total IoU (``geometry.match_boxes``); they have a P/R/F1 but no ranking, so no AP or fROC. One call takes
either scored or unscored predictions, not both.

References
----------
Everingham M, Van Gool L, Williams CKI, Winn J, Zisserman A. The PASCAL Visual Object Classes (VOC)
challenge. Int J Comput Vis 2010;88(2):303-338. doi:10.1007/s11263-009-0275-4
Lin TY, Maire M, Belongie S, et al. Microsoft COCO: common objects in context. ECCV 2014.
doi:10.1007/978-3-319-10602-1_48 (evaluation code: cocodataset/cocoapi, PythonAPI/pycocotools/cocoeval.py)
Padilla R, Netto SL, da Silva EAB. A survey on performance metrics for object-detection algorithms. IWSSIP
2020. doi:10.1109/IWSSIP48289.2020.9145130
Chakraborty DP. Maximum likelihood analysis of free-response receiver operating characteristic (FROC)
data. Med Phys 1989;16(4):561-568. doi:10.1118/1.596358
Niemeijer M, Loog M, Abramoff MD, Viergever MA, Prokop M, van Ginneken B. On combining computer-aided
detection systems. IEEE Trans Med Imaging 2011;30(2):215-223. doi:10.1109/TMI.2010.2072789

Modules: ``images`` (the checked input and the matching), ``precision`` (P/R/F1, AP, mAP), ``free_response``
(fROC).
"""

from stats.detection.free_response import FROC_FP_RATES, FrocResult, froc
from stats.detection.precision import (
    COCO_IOU_THRESHOLDS,
    PRF,
    DetectionPRF,
    MeanAPResult,
    average_precision,
    detection_prf,
    mean_ap,
)

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "DetectionPRF",
    "FROC_FP_RATES",
    "FrocResult",
    "MeanAPResult",
    "PRF",
    "average_precision",
    "detection_prf",
    "froc",
    "mean_ap",
]
