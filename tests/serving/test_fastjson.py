"""The fast numeric JSON / binary b64 parser agrees with the general one, and steps aside when it cannot."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tfdl.serving.fastjson import dumps, parse_fast, skeleton
from tfdl.serving.tensors import RequestError, parse_predict, to_array

SPEC = {"image": ([None, 4, 3, 1], "uint8")}
FLOAT = {"x": ([None, 5], "float32")}


def test_skeleton():
    assert skeleton((2, 3)) == b"[[,,],[,,]]"
    assert skeleton((1, 1)) == b"[[]]"


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("squeeze", [False, True])
@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_same_arrays_as_general_parser(n, squeeze, key):
    x = np.random.default_rng(n).integers(0, 256, (n, 4, 3, 1))
    value = x[..., 0].tolist() if squeeze else x.tolist()
    for text in (json.dumps({key: value}), json.dumps({key: value}, separators=(",", ":"), indent=1)):
        fast = parse_fast(text.encode(), SPEC)
        assert fast is not None, text[:80]
        slow = parse_predict(json.loads(text), SPEC)
        assert fast[1] == slow[1] == (key == "instances")
        assert fast[0]["image"].dtype == np.uint8 and np.array_equal(fast[0]["image"], slow[0]["image"])


def test_floats_and_signature_name():
    x = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    body = json.dumps({"signature_name": "serving_default", "instances": x.tolist()}).encode()
    got = parse_fast(body, FLOAT)
    assert got is not None and np.allclose(got[0]["x"], x)
    body = json.dumps({"instances": [[1, 2, 3, 4, 5.5e-3]], "signature_name": ""}).encode()
    assert parse_fast(body, FLOAT)[0]["x"].tolist() == [[1, 2, 3, 4, np.float32(5.5e-3)]]


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [[1,2,3,4],[5,6,7,8,9]]}',  # ragged
        '{"instances": [[1,2],[3,4,5],[6,7,8,9,10]]}',  # ragged with a matching count
        '{"instances": [[1,2,3,4,NaN]]}',  # NaN token: the general path decides
        '{"instances": [[1,2,3,4,true]]}',
        '{"instances": [[1,2,3,4,"5"]]}',
        '{"instances": [[1,2,3,4,5]], "signature_name": "other"}',
        '{"signature_name": "other", "instances": [[1,2,3,4,5]]}',
        '{"instances": [[1,2,3,4,5]], "extra": 1}',
        '{"instances": []}',
        '{"instances": [[]]}',
        "[[1,2,3,4,5]]",
        '{"instances": [[1,2,3,4,5]]',
    ],
)
def test_falls_back(body):
    assert parse_fast(body.encode(), FLOAT) is None


def test_range_and_fraction_errors_match_general_path():
    for value in ([[[[300]] * 3] * 4], [[[[0.5]] * 3] * 4]):
        body = json.dumps({"instances": value}).encode()
        with pytest.raises(RequestError) as fast:
            parse_fast(body, SPEC)
        with pytest.raises(RequestError) as slow:
            parse_predict(json.loads(body), SPEC)
        assert str(fast.value) == str(slow.value)


def test_binary_b64():
    x = np.random.default_rng(1).integers(0, 256, (2, 4, 3, 1), dtype=np.uint8)
    body = {"instances": [{"b64": base64.b64encode(row.tobytes()).decode()} for row in x]}
    got = parse_fast(json.dumps(body).encode(), SPEC)
    assert got is not None and np.array_equal(got[0]["image"], x) and got[1]
    f = np.arange(5, dtype="<f4")
    got = parse_fast(
        json.dumps({"instances": [{"b64": base64.b64encode(f.tobytes()).decode()}]}).encode(), FLOAT
    )
    assert got[0]["x"].tolist() == [f.tolist()]
    with pytest.raises(RequestError, match="12 bytes"):
        parse_fast(b'{"instances": [{"b64": "AAAA"}]}', SPEC)
    with pytest.raises(RequestError, match="invalid base64"):
        parse_fast(b'{"instances": [{"b64": "!!"}]}', SPEC)


def test_dumps_leaves_nan_to_the_general_encoder():
    assert json.loads(dumps({"predictions": np.array([[0.25, 0.75]], np.float32)})) == {
        "predictions": [[0.25, 0.75]]
    }
    assert dumps({"predictions": np.array([[np.nan]], np.float32)}) is None
    assert to_array(np.zeros((1, 5)), "x", [None, 5], "float32").dtype == np.float32
