"""The notebooks run headless, so they cannot rot; they are stored without outputs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# notebook -> (text its outputs must contain, number of figures)
EXPECTED = {"paper.ipynb": (["xlm-r", "paper", "code"], 2), "atlas.ipynb": (["premium Gini"], 4),
            "extension.ipynb": (["premium Gini", "parity+1000", "stories to train on"], 1)}


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes(tmp_path, name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    words, n_images = EXPECTED[name]
    assert all(w in text for w in words), text[:500]
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == n_images
