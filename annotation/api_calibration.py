"""The coordinator's calibration API: which cases are calibration cases, the blend rate and thresholds, and each
reader's running accuracy and kappa against the ground truth. Coordinators of the project only (404 otherwise)."""
import math

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors
from annotation.api import error_response, validated
from annotation.models import Case
from annotation.services import calibration


class CalibrationMarkSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    calibration = serializers.BooleanField(help_text="true marks the case, false unmarks it")


class CalibrationSettingsSerializer(serializers.Serializer):
    every = serializers.IntegerField(min_value=0, max_value=1000,
                                     help_text="One calibration case per this many double-reading cases; 0: none")
    min_accuracy = serializers.FloatField(allow_null=True, min_value=0, max_value=1)
    min_kappa = serializers.FloatField(allow_null=True, min_value=-1, max_value=1)


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined figure (nothing compared yet) is null."""
    return None if value is None or math.isnan(value) else float(value)


def _interval(ci) -> list:
    return [_number(ci[0]), _number(ci[1])]


def calibration_payload(project) -> dict:
    """The calibration page's figures as JSON (the page and the API show the same)."""
    return {
        "every": project.calibration_every, "min_accuracy": project.calibration_min_accuracy,
        "min_kappa": project.calibration_min_kappa,
        "cases": [{"case": case.pk, "given": case.given} for case in selectors.calibration_cases(project)],
        "readers": [{
            "reader": row.reader, "given": row.given, "submitted": row.submitted, "flagged": row.flagged,
            "findings": [{
                "finding_type": f.finding_type, "label": f.label,
                "correct": f.accuracy.numerator, "compared": f.accuracy.denominator,
                "accuracy": _number(f.accuracy.value), "accuracy_ci": _interval(f.accuracy.ci),
                "kappa": _number(f.kappa.value) if f.kappa else None,
                "kappa_ci": _interval(f.kappa.ci) if f.kappa else [None, None],
                "kappa_weights": f.kappa.weights if f.kappa else None, "below": f.below,
            } for f in row.findings],
        } for row in selectors.calibration_report(project)],
    }


class CalibrationApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, slug):
        return Response(calibration_payload(access.project_coordinated_get_for(request.user, slug)))


class CalibrationCaseApi(APIView):
    """Marks or unmarks a ground-truth-final case of the project as a calibration case (400 for any other)."""

    @extend_schema(request=CalibrationMarkSerializer, responses={200: dict})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(CalibrationMarkSerializer, request)
        try:
            case = access.cases_visible_to(request.user, project=project).get(pk=data["case"])
            given = calibration.calibration_mark(case=case, calibration=data["calibration"], actor=request.user)
        except Case.DoesNotExist:
            return error_response(ValueError("no such case in this project"), 404)
        except ValueError as error:
            return error_response(error)
        return Response({"case": case.pk, "calibration": data["calibration"], "given": given})


class CalibrationSettingsApi(APIView):
    @extend_schema(request=CalibrationSettingsSerializer, responses={200: dict})
    def put(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        data = validated(CalibrationSettingsSerializer, request)
        try:
            project = calibration.calibration_settings_update(project=project, actor=request.user, **data)
        except ValueError as error:
            return error_response(error)
        return Response(calibration_payload(project))
