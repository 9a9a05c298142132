"""Package metadata for neural-nmf, read from settings.ini (nbdev 2 layout).

Written without `pkg_resources` (removed from current setuptools): requirements are
plain PEP 508 strings separated by spaces in settings.ini.
"""
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here / 'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'mit': ('MIT License', 'OSI Approved :: MIT License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.9 3.10 3.11 3.12 3.13'.split()
min_python = cfg['min_python']
lic = licenses[cfg['license'].lower()]

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
sklearn_requirements = cfg.get('sklearn_requirements', '').split()
notebooks_requirements = cfg.get('notebooks_requirements', '').split()
fast_requirements = cfg.get('fast_requirements', '').split()
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
        'License :: ' + lic[1],
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ] + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    # the docs site: nbdev/Quarto's site-url, doc_host + doc_baseurl (nbdev 2.4 has no doc_url setting)
    project_urls={'Documentation': cfg['doc_host'].rstrip('/') + '/' + cfg['doc_baseurl'].strip('/') + '/',
                  'Source': cfg['git_url']},
    packages=setuptools.find_packages(include=['neural_nmf', 'neural_nmf.*']),
    include_package_data=True,
    package_data={'neural_nmf': ['data/*']},
    install_requires=requirements,
    # 'text' is the older name of the 'sklearn' extra (raw-text input needs scikit-learn too)
    extras_require={'sklearn': sklearn_requirements, 'text': sklearn_requirements, 'fast': fast_requirements,
                    'notebooks': notebooks_requirements + sklearn_requirements, 'dev': dev_requirements},
    python_requires='>=' + min_python,
    long_description=(here / 'README.md').read_text(encoding='utf-8') if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
)
