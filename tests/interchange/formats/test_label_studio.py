"""Label Studio JSON: rectangles to and from pixel boxes, the result parser and its errors, names, configs."""
import pytest

from interchange.formats import label_studio as ls


def test_rectangle_is_the_top_left_corner_and_size_in_percent():
    region = ls.rectangle((20, 16, 40, 32), 80, 64, label="hiz", from_name="box", to_name="img")
    assert region == {"from_name": "box", "to_name": "img", "type": "rectanglelabels", "original_width": 80,
                      "original_height": 64, "image_rotation": 0,
                      "value": {"x": 25.0, "y": 25.0, "width": 25.0, "height": 25.0, "rotation": 0,
                                "rectanglelabels": ["hiz"]}}


def test_rectangle_clamps_to_the_image_and_rounds_when_asked():
    value = ls.rectangle((-5, 10, 90, 30), 80, 60, label="hiz", digits=4)["value"]
    assert (value["x"], value["y"], value["width"], value["height"]) == (0.0, 16.6667, 100.0, 33.3333)


@pytest.mark.parametrize("box", [(20.0, 10.0, 60.0, 30.0), (0.0, 0.0, 333.0, 257.0), (101.3, 7.9, 102.1, 8.4)])
def test_rectangle_round_trips_through_the_parser(box):
    region = {**ls.rectangle(box, 333, 257, label="disc_p2"), "meta": {"text": ["L4/L5"]}}
    parsed = ls.result_parse([region])
    assert parsed.choices == []
    (rectangle,) = parsed.rectangles
    assert (rectangle.label, rectangle.level) == ("disc_p2", "L4/L5")
    assert rectangle.box(333, 257) == pytest.approx(box, abs=1e-9)


def test_choices_are_parsed_with_their_finding_and_level():
    parsed = ls.result_parse([{"type": "choices", "from_name": ls.choices_name("grade", "L4/L5"),
                               "value": {"choices": ["3"]}}])
    assert parsed.choices == [ls.ChoiceRegion("grade", "L4-L5", "3")]
    assert ls.level_from_ls(parsed.choices[0].level, ["L4/L5"]) == "L4/L5"


@pytest.mark.parametrize("result, message", [
    ("boxes", "'result' must be a list"),
    (["x"], "result 0: malformed region"),
    ([{"type": "rectanglelabels", "value": "x"}], "result 0: malformed region"),
    ([{"type": "polygonlabels", "value": {}}], "result 0: unsupported result type 'polygonlabels'"),
    ([{"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 1, "rectanglelabels": ["a"]}}],
     "result 0: bad rectangle: no 'height'"),
    ([{"type": "rectanglelabels", "value": {"x": "left", "y": 1, "width": 1, "height": 1,
                                            "rectanglelabels": ["a"]}}], "must be numbers"),
    ([{"type": "rectanglelabels", "value": {"x": "nan", "y": 1, "width": 1, "height": 1,
                                            "rectanglelabels": ["a"]}}], "must be finite"),
    ([{"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": []}}],
     "list of one class name"),
    ([{"type": "choices", "from_name": "grade", "value": {"choices": ["3"]}}], "named '<finding>__<level>'"),
    ([{"type": "choices", "from_name": "grade__L1-L2", "value": {"choices": []}}], "hold one choice"),
])
def test_bad_results_are_refused_clearly(result, message):
    with pytest.raises(ls.LabelStudioFormatError, match=message):
        ls.result_parse(result)


def test_rectangles_only_skips_other_results_but_not_bad_rectangles():
    box = ls.rectangle((1, 2, 3, 4), 10, 10, label="hiz")
    parsed = ls.result_parse(["x", {"type": "choices", "value": {}}, box], rectangles_only=True)
    assert [r.label for r in parsed.rectangles] == ["hiz"]
    with pytest.raises(ls.LabelStudioFormatError, match="result 1: malformed region"):
        ls.result_parse([box, {"type": "rectanglelabels"}], rectangles_only=True)


def test_unknown_level_is_refused():
    with pytest.raises(ls.LabelStudioFormatError, match="unknown disc level 'L9-L10'"):
        ls.level_from_ls("L9-L10", ["L4/L5"])


def test_label_config_parse_finds_the_box_control_and_its_image_key():
    xml = ('<View><Image name="img" value="$picture"/><RectangleLabels name="box" toName="img">'
           '<Label value="hiz"/></RectangleLabels></View>')
    assert ls.label_config_parse(xml) == ls.LabelConfig("box", "img", "picture")
    assert ls.label_config_parse("") == ls.LabelConfig() == ls.label_config_parse("<View/>")
    with pytest.raises(ls.LabelStudioFormatError, match="not valid XML"):
        ls.label_config_parse("<View")


def test_config_for_a_schema_parses_back_and_names_every_choice(export_data):
    xml = ls.label_studio_config(export_data.schema)
    assert ls.label_config_parse(xml) == ls.LabelConfig()
    schema = export_data.schema
    assert xml.count("<Choices ") == len(schema["findings"]) * len(schema["levels"])
    assert all(f'<Label value="{name}"/>' in xml for name in export_data.classes)


def test_tasks_carry_boxes_with_levels_and_the_case_values_once(export_data):
    tasks = ls.label_studio_tasks(export_data, image_url=lambda image: f"/img/{image.stem}")
    assert [t["data"]["image"] for t in tasks] == ["/img/case1_img10", "/img/case2_img20"]
    first = tasks[0]["annotations"][0]["result"]
    assert [r["type"] for r in first] == ["rectanglelabels", "rectanglelabels", "choices"]
    assert first[0]["meta"] == {"text": ["L4/L5"]} and first[2]["from_name"] == "f__L4-L5"
    parsed = ls.result_parse(first)
    assert parsed.rectangles[1].box(200, 100) == pytest.approx((100.5, 50.25, 150.0, 99.0))
