"""The label schema: the one owner of disc levels, findings, their values and the detector classes.

Everything that needs to know what a valid finding is (services validating reads, the ML backend mapping
detector classes, exports) asks this module; nothing else keeps its own list.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

LUMBAR_LEVELS = ["L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1"]
ALL_LEVELS = [f"T{n}/T{n + 1}" for n in range(9, 12)] + ["T12/L1"] + LUMBAR_LEVELS

SCHEMA_VERSION = 1

# Default project template (design.md, "Label schema"). Values are strings on the wire and in the database so
# that every finding is stored the same way; `scale` says how statistics treat them.
DEFAULT_SCHEMA: dict = {
    "version": SCHEMA_VERSION,
    "levels": LUMBAR_LEVELS,
    "findings": [
        {
            "name": "pfirrmann",
            "label": "Pfirrmann grade",
            "values": ["1", "2", "3", "4", "5"],
            "scale": "ordinal",
            "planes": ["sagittal"],
            # Every disc has a grade, so every grade is a detector class.
            "classes": {"1": "disc_p1", "2": "disc_p2", "3": "disc_p3", "4": "disc_p4", "5": "disc_p5"},
            "positive_from": "4",
            "rare_values": ["1", "5"],
        },
        {
            "name": "herniation",
            "label": "Herniation",
            "values": ["none", "bulge", "protrusion", "extrusion", "sequestration"],
            "scale": "ordinal",
            "planes": ["sagittal", "axial"],
            "classes": {
                "bulge": "herniation_bulge",
                "protrusion": "herniation_protrusion",
                "extrusion": "herniation_extrusion",
                "sequestration": "herniation_sequestration",
            },
            # A bulge is not a herniation (design.md).
            "positive_from": "protrusion",
        },
        {
            "name": "hiz",
            "label": "High-intensity zone",
            "values": ["absent", "present"],
            "scale": "binary",
            "planes": ["sagittal", "axial"],
            "classes": {"present": "hiz"},
            "rare_values": ["present"],
        },
        {
            "name": "schmorl",
            "label": "Schmorl's node",
            "values": ["absent", "present"],
            "scale": "binary",
            "planes": ["sagittal"],
            "classes": {"present": "schmorl"},
            "rare_values": ["present"],
        },
        {
            "name": "listhesis",
            "label": "Meyerding grade",
            "values": ["0", "1", "2", "3", "4"],
            "scale": "ordinal",
            "planes": ["sagittal"],
            "classes": {"1": "listhesis", "2": "listhesis", "3": "listhesis", "4": "listhesis"},
            # The box is on the slipped vertebra, above the disc that names the level (L4 on L5: L4/L5).
            "level_from": "disc_below",
            "positive_from": "1",
            "rare_values": ["1", "2", "3", "4"],
        },
    ],
}


class SchemaError(ValueError):
    """A schema or a finding that does not fit its schema."""


@dataclass(frozen=True)
class FindingSpec:
    """What the rest of the project may know about one finding of a schema."""

    name: str
    values: tuple[str, ...]
    scale: str
    classes: dict
    label: str = ""
    planes: tuple[str, ...] = ("sagittal",)
    negative: str | None = None
    positive_from: str = ""
    rare_values: tuple[str, ...] = ()
    level_from: str = "nearest_disc"  # or "disc_below": which disc names the level of a box of this finding


def _template_finding(name: str) -> dict:
    # Projects created before a key existed read its default from the template finding of the same name.
    return next((f for f in DEFAULT_SCHEMA["findings"] if f["name"] == name), {})


def _spec(finding: dict) -> FindingSpec:
    values, classes = tuple(finding["values"]), dict(_value_classes(finding))
    template = _template_finding(finding["name"])
    positive_from = finding.get("positive_from") or template.get("positive_from")
    if positive_from not in values:
        # Binary findings (and any finding that does not say) count from their second value.
        positive_from = values[1] if len(values) > 1 else values[0]
    rare = finding.get("rare_values", template.get("rare_values", ()))
    return FindingSpec(
        name=finding["name"], values=values, scale=finding["scale"], classes=classes,
        label=finding.get("label") or finding["name"],
        planes=tuple(finding.get("planes") or ("sagittal",)),
        # A first value with no detector class is the negative one (none, absent, 0): what an unannotated finding
        # means in a positive-only project. Pfirrmann has none, so a missing grade stays missing.
        negative=values[0] if values[0] not in classes else None,
        positive_from=positive_from,
        rare_values=tuple(v for v in rare if v in values),
        level_from=finding.get("level_from") or template.get("level_from") or "nearest_disc",
    )


def default_schema() -> dict:
    return copy.deepcopy(DEFAULT_SCHEMA)


def schema_validate(schema: dict) -> dict:
    """Checks a project's schema and returns it; raises SchemaError with the first problem found, in words (a
    schema typed by hand on the schema page must never crash it)."""
    try:
        _schema_check(schema)
        schema_for_page(schema)  # every rule the pages derive from it must hold
    except SchemaError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError) as error:
        raise SchemaError(f"the schema is malformed ({error.__class__.__name__}: {error})")
    return schema


def _schema_check(schema) -> None:
    if not isinstance(schema, dict):
        raise SchemaError("schema must be an object")
    levels = schema.get("levels")
    if not levels or not isinstance(levels, list) or any(level not in ALL_LEVELS for level in levels):
        raise SchemaError(f"levels must be a non-empty list drawn from {ALL_LEVELS}")
    findings = schema.get("findings")
    if not findings or not isinstance(findings, list):
        raise SchemaError("findings must be a non-empty list")
    names = set()
    for finding in findings:
        name = finding.get("name") if isinstance(finding, dict) else None
        if not name or name in names:
            raise SchemaError(f"finding names must be present and unique (got {name!r})")
        names.add(name)
        values = finding.get("values")
        if not values or not isinstance(values, list) or len(set(values)) != len(values):
            raise SchemaError(f"finding {name!r}: values must be a non-empty list without repeats")
        if finding.get("scale") not in {"ordinal", "nominal", "binary"}:
            raise SchemaError(f"finding {name!r}: scale must be ordinal, nominal or binary")
        if not all(isinstance(value, str) and value for value in values):
            raise SchemaError(f"finding {name!r}: every value must be a non-empty text")
        planes = finding.get("planes", ["sagittal"])
        if not isinstance(planes, list) or not planes or set(planes) - {"sagittal", "axial"}:
            raise SchemaError(f"finding {name!r}: planes must be a list of sagittal and/or axial")
        if not isinstance(finding.get("classes", {}), dict):
            raise SchemaError(f"finding {name!r}: classes must map values to detector classes")
        unknown = set(finding.get("classes", {})) - set(values)
        if unknown:
            raise SchemaError(f"finding {name!r}: classes for unknown values {sorted(unknown)}")


def schema_value_edit(schema: dict, *, finding: str, value: str, add: bool) -> dict:
    """A copy of the schema with one value added to (or removed from) one finding: the schema page's quick edit.
    A removed value leaves the finding's detector classes, rare values and positive threshold too. Raises
    SchemaError; the caller saves the result as a new version (which validates it)."""
    edited = copy.deepcopy(schema)
    spec = next((f for f in edited.get("findings", []) if f.get("name") == finding), None)
    if spec is None:
        raise SchemaError(f"no finding {finding!r} in the schema")
    if not value:
        raise SchemaError("name the value")
    if add:
        if value in spec["values"]:
            raise SchemaError(f"{finding} already has the value {value!r}")
        spec["values"].append(value)
        return edited
    if value not in spec["values"]:
        raise SchemaError(f"{finding} has no value {value!r}")
    if len(spec["values"]) <= 2:
        raise SchemaError(f"{finding} needs at least two values")
    spec["values"].remove(value)
    spec.get("classes", {}).pop(value, None)
    if "rare_values" in spec:
        spec["rare_values"] = [v for v in spec["rare_values"] if v != value]
    if spec.get("positive_from") == value:
        spec.pop("positive_from")
    return edited


def finding_specs(schema: dict) -> dict[str, FindingSpec]:
    return {f["name"]: _spec(f) for f in schema["findings"]}


def negative_values(schema: dict) -> dict[str, str]:
    """{finding: the value an unannotated finding stands for}, for the findings that have one."""
    return {name: spec.negative for name, spec in finding_specs(schema).items() if spec.negative is not None}


def rare_findings(schema: dict) -> set[tuple[str, str]]:
    """(finding, value) pairs the published datasets lack, which active learning seeks out."""
    return {(name, value) for name, spec in finding_specs(schema).items() for value in spec.rare_values}


def anchor_finding(schema: dict) -> str | None:
    """The finding every value of which has a detector class (the disc itself: Pfirrmann)."""
    for name, spec in finding_specs(schema).items():
        if spec.classes and set(spec.classes) == set(spec.values):
            return name
    return None


def findings_on_plane(schema: dict, plane: str) -> list[str]:
    """The findings read on a plane ("sagittal" or "axial"), in schema order."""
    return [name for name, spec in finding_specs(schema).items() if plane in spec.planes]


def schema_for_page(schema: dict) -> dict:
    """The schema as the browser gets it in the page payload: every rule the reading page needs, decided here."""
    specs = finding_specs(schema)
    return {
        "version": schema.get("version", SCHEMA_VERSION),
        "levels": list(schema["levels"]),
        "anchor": anchor_finding(schema),
        "findings": [{"name": s.name, "label": s.label, "values": list(s.values), "scale": s.scale,
                      "planes": list(s.planes), "negative": s.negative, "classes": s.classes}
                     for s in specs.values()],
    }


def finding_validate(schema: dict, *, disc_level: str, finding_type: str, value: str) -> None:
    """Raises SchemaError unless the level, finding and value exist in this schema."""
    if disc_level not in schema["levels"]:
        raise SchemaError(f"unknown disc level {disc_level!r}; expected one of {schema['levels']}")
    specs = finding_specs(schema)
    if finding_type not in specs:
        raise SchemaError(f"unknown finding {finding_type!r}; expected one of {sorted(specs)}")
    if str(value) not in specs[finding_type].values:
        raise SchemaError(
            f"{value!r} is not a valid {finding_type} value; expected one of {list(specs[finding_type].values)}"
        )


def _value_classes(finding: dict) -> list[tuple[str, str]]:
    """(value, class) in the order of the finding's values: a stored schema's "classes" object comes back from
    PostgreSQL's jsonb with its keys reordered (by length), so its own order is not the schema's."""
    classes = finding.get("classes", {})
    return [(value, classes[value]) for value in finding["values"] if value in classes]


def detector_classes(schema: dict) -> list[str]:
    """Detector class names in a stable order (the order of the schema's findings and values), without repeats."""
    classes: list[str] = []
    for finding in schema["findings"]:
        for _value, class_name in _value_classes(finding):
            if class_name not in classes:
                classes.append(class_name)
    return classes


def finding_class(schema: dict, finding_type: str, value: str) -> str | None:
    """The detector class of a finding's value; None for a value the detector has no class for (a negative)."""
    spec = finding_specs(schema).get(finding_type)
    return spec.classes.get(value) if spec else None


def class_to_finding(schema: dict, class_name: str) -> tuple[str, str]:
    """Maps a detector class back to (finding_type, value); a class shared by several values (listhesis)
    maps to its lowest positive value, as a box alone cannot tell the grade."""
    for finding in schema["findings"]:
        for value, name in _value_classes(finding):
            if name == class_name:
                return finding["name"], value
    raise SchemaError(f"unknown detector class {class_name!r}")
