"""A missing optional package gives a message naming what to install."""

import pytest

from lib_ti.core.deps import MissingDependency, require


def test_present_module_is_returned():
    assert require("json", "json", "x").dumps([]) == "[]"


def test_missing_module_names_the_pip_package():
    with pytest.raises(MissingDependency, match="pip install ImageHash") as err:
        require("imagehash_not_here", "ImageHash", "Near-duplicate detection")
    assert "Near-duplicate detection" in str(err.value)
