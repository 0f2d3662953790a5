"""The coordinator's calibration page: which ground-truth-final cases are calibration cases, how often they are
blended into readers' worklists, and each reader's running accuracy and kappa against the ground truth, flagged
below the project's thresholds. Each POST calls one service (the same ones annotation/api_calibration.py calls)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

import access
from annotation.api_calibration import calibration_payload
from annotation.services.calibration import calibration_mark, calibration_settings_update
from frontend.views import _context


def _number(text: str, what: str, *, whole: bool = False):
    """A form field as a number; empty is None (no threshold); ValueError in words otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        raise ValueError(f"{what} must be a {'whole ' if whole else ''}number, got {text!r}")


@login_required
def project_calibration(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action in ("mark", "unmark"):
                case_id = _number(request.POST.get("case", ""), "the case", whole=True)
                case = access.cases_visible_to(request.user, project=project).filter(pk=case_id).first()
                if case is None:
                    raise ValueError("no such case in this project")
                given = calibration_mark(case=case, calibration=action == "mark", actor=request.user)
                done = "is now a calibration case" if action == "mark" else "is no longer a calibration case"
                messages.success(request, f"Case {case.pk} {done}; {given} calibration case(s) given to readers.")
            else:
                every = _number(request.POST.get("every", ""), "one calibration case per N cases", whole=True)
                if every is None:
                    raise ValueError("say how many double-reading cases per calibration case (0: none)")
                calibration_settings_update(
                    project=project, every=every, actor=request.user,
                    min_accuracy=_number(request.POST.get("min_accuracy", ""), "the accuracy threshold"),
                    min_kappa=_number(request.POST.get("min_kappa", ""), "the kappa threshold"))
                messages.success(request, "Calibration settings saved.")
        except ValueError as error:
            messages.error(request, f"Nothing changed: {error}")
        return redirect("project-calibration", slug=slug)
    return render(request, "frontend/setup/project_calibration.html",
                  _context(request, project=project, calibration=calibration_payload(project)))
