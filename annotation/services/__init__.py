"""Writes: every change to cases, reads and ground truth goes through a function here, with its audit row.

Callers use `from annotation import services` and `services.case_import(...)`; the submodules group them.
"""
from annotation.services.audit import audit_log, instance_access_log
from annotation.services.ingest import (
    ImportRejected, ImportResult, case_import, case_import_each, dicom_check_all, instance_burned_in_clear
)
from annotation.services.uploads import UploadConflict, upload_finish, upload_receive, upload_start
from annotation.services.adjudication import AdjudicationConflict, DecisionInput, adjudication_resolve
from annotation.services.model_output import ModelFindingInput, case_priorities_set, model_findings_replace
from annotation.services.projects import (
    case_assign, case_reassign, cases_assign_bulk, cases_assign_balanced, cases_set_split, project_create,
    project_member_add, project_member_remove, roles_ensure, user_set_role
)
from annotation.services.reading import (
    FindingInput, ReadingError, case_evaluate_agreement, read_correct, read_open, read_save_draft, read_submit
)

__all__ = [
    "ModelFindingInput", "case_priorities_set", "model_findings_replace",
    "AdjudicationConflict", "DecisionInput", "FindingInput", "ImportRejected", "ImportResult", "ReadingError",
    "adjudication_resolve", "audit_log", "instance_access_log", "case_assign", "case_reassign", "cases_assign_balanced", "cases_assign_bulk", "cases_set_split", "case_evaluate_agreement", "case_import",
    "dicom_check_all", "instance_burned_in_clear", "project_create", "project_member_add", "project_member_remove", "read_correct", "read_open", "read_save_draft", "read_submit",
    "roles_ensure", "user_set_role",
    "UploadConflict", "case_import_each", "upload_finish", "upload_receive", "upload_start",
]
