"""Batch scoring of data larger than memory with Dask: partitions scored by the torch-free Predictor, loaded once per
worker process, on a real `dask.distributed` LocalCluster (the same code runs on a cluster of machines)."""
import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip('dask.dataframe', reason='Dask is in the scale extra: pip install -e ".[scale]"')
distributed = pytest.importorskip('dask.distributed')


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    import warnings
    warnings.filterwarnings('ignore')
    from dlwork.deploy import export_bundle
    from dlwork.model import learner_for
    from dlwork.prep import prepare
    from dlwork.problem import load_example
    from dlwork.train import fit
    tmp = tmp_path_factory.mktemp('scale')
    example = load_example('penguins')
    prepared = prepare(example.problem(), example.data)
    learn = learner_for(prepared, seed=0, path=tmp)
    fit(learn, 2, seed=0, progress=False, checkpoint=False)
    return export_bundle(learn, prepared, tmp / 'bundle', quantize=False)


def _loads():
    "How many times this process loaded a bundle for Dask (runs on each worker through `client.run`)."
    from dlwork import deploy
    return deploy._cached_predictor.cache_info().misses


def test_dask_partitions_on_a_local_cluster_score_like_the_predictor(bundle, tmp_path):
    from dlwork.deploy import Predictor, predict_dask
    from dlwork.problem import load_example
    rows = load_example('penguins').data.drop(columns='species')
    for i in range(6):
        rows.sample(500, replace=True, random_state=i).to_csv(tmp_path / f'rows-{i}.csv', index=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        data = dd.read_csv(str(tmp_path / 'rows-*.csv'), blocksize=None)
        scored = predict_dask(bundle, data)
        assert data.npartitions == scored.npartitions == 6
        scored.to_parquet(tmp_path / 'scored')                          # streamed partition by partition
        loads = client.run(_loads)
    assert sorted(loads.values()) == [1, 1], loads                       # one Predictor per worker, not per partition
    got = pd.read_parquet(tmp_path / 'scored')
    whole = pd.concat([pd.read_csv(tmp_path / f'rows-{i}.csv') for i in range(6)], ignore_index=True)
    expected = Predictor.load(bundle).predict(whole)
    assert len(got) == len(whole) == 3000
    assert list(got.columns) == list(expected.columns)
    assert (got['prediction'].to_numpy() == expected['prediction'].to_numpy()).all()
    np.testing.assert_allclose(got['probability'].to_numpy(), expected['probability'].to_numpy(), atol=1e-6)


def test_bad_input_to_dask_scoring(bundle, tmp_path):
    from dlwork.deploy import predict_dask
    from dlwork.problem import load_example
    rows = load_example('penguins').data.drop(columns=['species', 'island'])
    data = dd.from_pandas(rows, npartitions=2)
    with pytest.raises(ValueError, match="missing column 'island'"):
        predict_dask(bundle, data)                                        # checked on the first rows, before any work
    with pytest.raises(TypeError, match='a dask DataFrame'):
        predict_dask(bundle, rows)
    with pytest.raises(FileNotFoundError):
        predict_dask(tmp_path / 'no-bundle', data)
