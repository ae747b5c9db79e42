"""`Predictor.predict` fuzzed with hypothesis on frames built from the bundle's input schema: right and wrong types,
missing and extra columns, NaN, ±inf, empty and very long strings, booleans, mixed columns. Every frame gets a result
(one prediction per row) or a `ValueError`/`TypeError` that names a column, never another exception."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st


@pytest.fixture(scope='module')
def predictors(tmp_path_factory):
    "Bundles of penguins (numbers and text categories) and of a table with integer-coded categories and booleans."
    from dlwork.deploy import Predictor, export_bundle
    from dlwork.model import learner_for
    from dlwork.prep import prepare
    from dlwork.problem import Problem, load_example
    from dlwork.train import fit
    folder = tmp_path_factory.mktemp('fuzz')
    rng = np.random.default_rng(1)
    voyage = pd.DataFrame({'pclass': rng.choice([1, 2, 3], 300), 'alone': rng.choice([True, False], 300),
                           'fare': rng.gamma(2, 15, 300)})
    voyage['survived'] = ((voyage['pclass'] < 3) ^ (rng.random(300) < 0.2)).astype(int)
    penguins = load_example('penguins')
    made = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for name, problem, data in (('penguins', penguins.problem(), penguins.data),
                                    ('voyage', Problem.infer(voyage, target='survived'), voyage)):
            prepared = prepare(problem, data)
            learn = learner_for(prepared, seed=0, path=folder / name)
            fit(learn, 1, seed=0, progress=False, checkpoint=False)
            made[name] = Predictor.load(export_bundle(learn, prepared, folder / name / 'bundle', quantize=False))
    return made


ODD = st.one_of(st.none(), st.just(float('nan')), st.just(float('inf')), st.just(float('-inf')), st.just(''),
                st.text(min_size=1, max_size=30), st.text(alphabet='ab', min_size=5000, max_size=6000),
                st.booleans(), st.integers(-10 ** 12, 10 ** 12), st.floats(allow_nan=True, allow_infinity=True),
                st.just('12.5'), st.just([1, 2]), st.just({'a': 1}))


def _value(spec: dict):
    "A right value for the column's schema, or an odd one."
    if spec['type'] == 'number':
        right = st.floats(min_value=spec.get('min', -1e6) - 10, max_value=spec.get('max', 1e6) + 10)
    elif spec['type'] == 'category':
        right = st.sampled_from(list(spec['categories']) + list(spec.get('values') or []))
    else:
        right = st.text(max_size=50)
    return st.one_of(right, right, ODD)


@st.composite
def frames(draw, schema: dict):
    rows = draw(st.integers(1, 4))
    columns = {c: draw(st.lists(_value(s), min_size=rows, max_size=rows)) for c, s in schema.items()}
    for c in draw(st.lists(st.sampled_from(list(schema)), max_size=2, unique=True)):   # missing columns
        columns.pop(c)
    for extra in draw(st.lists(st.sampled_from(['colour', 'id', 'Island', '']), max_size=2, unique=True)):
        columns[extra] = draw(st.lists(ODD, min_size=rows, max_size=rows))
    return pd.DataFrame(columns, index=range(rows))


def _check(predictor, frame):
    try:
        out = predictor.predict(frame)
    except (ValueError, TypeError) as e:
        message = str(e)
        assert any(f"'{c}'" in message for c in list(predictor.schema) + list(frame.columns)), \
            f'the error names no column: {message!r}\n{frame!r}'
        return
    assert isinstance(out, pd.DataFrame) and len(out) == len(frame), out
    assert 'prediction' in out.columns


@pytest.mark.parametrize('name', ['penguins', 'voyage'])
def test_predict_answers_or_names_the_column(predictors, name):
    predictor = predictors[name]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(frames(predictor.schema))
    def run(frame):
        _check(predictor, frame)
    run()


def test_predict_one_record_too(predictors):
    "A single record (a dict) goes through the same checks."
    predictor = predictors['penguins']

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(frames(predictor.schema))
    def run(frame):
        record = frame.iloc[0].to_dict()
        try:
            out = predictor.predict(record)
        except (ValueError, TypeError) as e:
            assert any(f"'{c}'" in str(e) for c in list(predictor.schema) + list(record)), str(e)
            return
        assert isinstance(out, dict) and 'prediction' in out
    run()
