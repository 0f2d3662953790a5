"""The label schema: the one owner of levels, findings, values, negatives, planes and detector classes."""
import copy

import pytest

from annotation import schema as label_schema
from annotation.schema import SchemaError


@pytest.fixture
def schema():
    return label_schema.default_schema()


def _finding(schema, name):
    return next(f for f in schema["findings"] if f["name"] == name)


def test_default_schema_is_valid_and_a_copy(schema):
    assert label_schema.schema_validate(schema) is schema
    schema["findings"].clear()
    assert label_schema.default_schema()["findings"], "editing one copy must not change the template"


@pytest.mark.parametrize("edit, words", [
    (lambda s: s.update(levels=["L6/S1"]), "levels must be"),
    (lambda s: s.update(levels=[]), "levels must be"),
    (lambda s: s.update(findings=[]), "findings must be"),
    (lambda s: s["findings"].append(copy.deepcopy(s["findings"][0])), "unique"),
    (lambda s: s["findings"][0].update(values=["1", "1"]), "without repeats"),
    (lambda s: s["findings"][0].update(scale="interval"), "scale must be"),
    (lambda s: s["findings"][1]["classes"].update(giant="herniation_giant"), "unknown values"),
])
def test_invalid_schemas_are_refused_with_the_problem_named(schema, edit, words):
    edit(schema)
    with pytest.raises(SchemaError, match=words):
        label_schema.schema_validate(schema)


def test_negative_values_are_the_first_value_without_a_detector_class(schema):
    # Pfirrmann: every grade is a class, so a missing grade stays missing (no negative).
    assert label_schema.negative_values(schema) == {"herniation": "none", "hiz": "absent", "schmorl": "absent",
                                                    "listhesis": "0"}
    assert label_schema.finding_specs(schema)["pfirrmann"].negative is None


def test_positive_from_defaults_per_finding_and_binary_findings_count_from_their_second_value(schema):
    specs = label_schema.finding_specs(schema)
    assert {name: spec.positive_from for name, spec in specs.items()} == {
        "pfirrmann": "4", "herniation": "protrusion", "hiz": "present", "schmorl": "present", "listhesis": "1"}


def test_a_project_schema_without_the_newer_keys_reads_them_from_the_template(schema):
    for finding in schema["findings"]:
        for key in ("positive_from", "rare_values", "level_from"):
            finding.pop(key, None)
    specs = label_schema.finding_specs(schema)
    assert specs["herniation"].positive_from == "protrusion"
    assert specs["listhesis"].level_from == "disc_below"
    assert ("hiz", "present") in label_schema.rare_findings(schema)


def test_a_projects_own_keys_win_over_the_template(schema):
    _finding(schema, "herniation").update(positive_from="bulge", rare_values=["sequestration"])
    spec = label_schema.finding_specs(schema)["herniation"]
    assert (spec.positive_from, spec.rare_values) == ("bulge", ("sequestration",))
    # A positive_from that is not one of the values falls back to the second value.
    _finding(schema, "herniation")["positive_from"] = "giant"
    assert label_schema.finding_specs(schema)["herniation"].positive_from == "bulge"


def test_rare_findings_anchor_and_planes(schema):
    assert label_schema.rare_findings(schema) == {
        ("pfirrmann", "1"), ("pfirrmann", "5"), ("hiz", "present"), ("schmorl", "present"),
        ("listhesis", "1"), ("listhesis", "2"), ("listhesis", "3"), ("listhesis", "4")}
    assert label_schema.anchor_finding(schema) == "pfirrmann"
    assert label_schema.findings_on_plane(schema, "axial") == ["herniation", "hiz"]
    assert label_schema.findings_on_plane(schema, "sagittal") == ["pfirrmann", "herniation", "hiz", "schmorl",
                                                                  "listhesis"]


def test_detector_classes_and_their_findings(schema):
    classes = label_schema.detector_classes(schema)
    assert classes[:5] == ["disc_p1", "disc_p2", "disc_p3", "disc_p4", "disc_p5"]
    assert classes.count("listhesis") == 1
    assert label_schema.finding_class(schema, "herniation", "extrusion") == "herniation_extrusion"
    assert label_schema.finding_class(schema, "herniation", "none") is None
    assert label_schema.finding_class(schema, "modic", "1") is None
    # A class shared by several values maps back to the lowest positive one: a box cannot tell the grade.
    assert label_schema.class_to_finding(schema, "listhesis") == ("listhesis", "1")
    with pytest.raises(SchemaError, match="unknown detector class"):
        label_schema.class_to_finding(schema, "modic_1")


def test_class_order_is_the_values_order_not_the_stored_objects_key_order(schema):
    # PostgreSQL's jsonb hands a stored "classes" object back with its keys sorted by length: the detector's
    # class numbering (COCO category ids, YOLO indices) must not change with it.
    stored = copy.deepcopy(schema)
    for finding in stored["findings"]:
        finding["classes"] = dict(sorted(finding.get("classes", {}).items(), key=lambda kv: (len(kv[0]), kv[0])))
    assert label_schema.detector_classes(stored) == label_schema.detector_classes(schema)
    assert label_schema.detector_classes(schema)[5:9] == ["herniation_bulge", "herniation_protrusion",
                                                          "herniation_extrusion", "herniation_sequestration"]
    assert label_schema.class_to_finding(stored, "listhesis") == ("listhesis", "1")


@pytest.mark.parametrize("level, finding, value, words", [
    ("L6/S1", "pfirrmann", "3", "unknown disc level"),
    ("L4/L5", "modic", "1", "unknown finding"),
    ("L4/L5", "pfirrmann", "6", "not a valid pfirrmann value"),
])
def test_finding_validate_names_what_is_wrong(schema, level, finding, value, words):
    with pytest.raises(SchemaError, match=words):
        label_schema.finding_validate(schema, disc_level=level, finding_type=finding, value=value)
    label_schema.finding_validate(schema, disc_level="L4/L5", finding_type="pfirrmann", value="3")


def test_the_page_gets_every_rule_it_needs_and_nothing_to_recompute(schema):
    page = label_schema.schema_for_page(schema)
    assert page["levels"] == schema["levels"] and page["anchor"] == "pfirrmann"
    herniation = next(f for f in page["findings"] if f["name"] == "herniation")
    assert herniation == {"name": "herniation", "label": "Herniation",
                          "values": ["none", "bulge", "protrusion", "extrusion", "sequestration"],
                          "scale": "ordinal", "planes": ["sagittal", "axial"], "negative": "none",
                          "classes": _finding(schema, "herniation")["classes"]}
    assert [f["name"] for f in page["findings"]] == [f["name"] for f in schema["findings"]]
