"""The coordinator's form that defines a reader study: the study's design and the filter that picks its cases.

The form only checks the shape of the input; whether the cases and readers make a study is ``study_create``'s
rule (final ground truth, blind readers), so the page and the API refuse the same things in the same words.
"""
from django import forms

from annotation.models import Case
from studies.models import ReaderStudy

ANY_SPLIT = "any"
UNASSIGNED = "unassigned"  # stands for the split "" in the form, where "" is what a blank choice sends
SPLITS = [(ANY_SPLIT, "any split"), *[(value or UNASSIGNED, label) for value, label in Case.Split.choices]]


class StudyForm(forms.Form):
    project = forms.ChoiceField(help_text="One of the projects you coordinate")
    # Name and readers may be left blank for a preview; study_create refuses a study without them, in words.
    name = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    site = forms.CharField(required=False, max_length=64, help_text="Only cases of this site code")
    split = forms.ChoiceField(choices=SPLITS, initial=ANY_SPLIT, required=False)
    finding = forms.ChoiceField(required=False, help_text="Only cases whose ground truth holds this finding")
    value = forms.CharField(required=False, max_length=64, help_text="... with this value (blank: any value)")
    count = forms.IntegerField(required=False, min_value=1, max_value=100_000,
                               help_text="A random sample of this many matching cases (blank: all)")
    seed = forms.IntegerField(initial=0, help_text="Seed of the sample, the arm order, case order and repeats")
    readers = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)
    design = forms.ChoiceField(choices=ReaderStudy.Design.choices, initial=ReaderStudy.Design.UNAIDED)
    washout_days = forms.IntegerField(min_value=0, max_value=3650, initial=28)
    repeat_fraction = forms.FloatField(min_value=0, max_value=1, initial=0.0,
                                       help_text="Share of cases read a second time, after the washout")
    model_version = forms.ChoiceField(required=False, help_text="The model whose findings the aided arm shows")

    def __init__(self, *args, projects, finding_names, model_versions, readers, **kwargs):
        """``model_versions`` and ``readers``: (project slug, version or username) pairs, so that each is offered
        with its project and refused with another."""
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [(p.slug, p.name) for p in projects]
        self.fields["finding"].choices = [("", "any"), *[(name, name) for name in finding_names]]
        self.fields["readers"].choices = [(name, name) for name in sorted({name for _slug, name in readers})]
        self.fields["model_version"].choices = [("", "none"), *[(version, f"{version} ({slug})")
                                                                for slug, version in model_versions]]
        self.model_versions, self.readers = set(model_versions), set(readers)

    def clean(self):
        data = super().clean()
        not_here = [name for name in data.get("readers", []) if (data.get("project"), name) not in self.readers]
        if not_here:
            self.add_error("readers", f"not a reader of project {data.get('project')}: {', '.join(not_here)}")
        version = data.get("model_version")
        if version and (data.get("project"), version) not in self.model_versions:
            self.add_error("model_version", f"{version} has no pre-annotations in project {data.get('project')}")
        return data

    def case_filter(self) -> dict:
        """The keyword arguments of ``selectors.study_candidate_cases``."""
        data = self.cleaned_data
        split = {"": None, ANY_SPLIT: None, UNASSIGNED: ""}.get(data["split"], data["split"])
        return {"site": data["site"].strip(), "split": split,
                "finding": data["finding"], "value": data["value"].strip(), "count": data["count"],
                "seed": data["seed"]}
