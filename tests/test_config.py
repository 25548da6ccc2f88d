"""config.yaml loading: relative paths, errors naming the file."""

import pytest

from crowdsec_mp.config import BUILTIN_CONFIG_DIR, load_config
from crowdsec_mp.errors import ConfigError


def test_builtin_default_config_loads_and_resolves_paths():
    config = load_config(BUILTIN_CONFIG_DIR / "config.yaml")
    assert config.config_dir == BUILTIN_CONFIG_DIR.resolve()
    assert config.pattern_dir == (BUILTIN_CONFIG_DIR / "patterns").resolve()
    assert config.data_dir.is_absolute()


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "config.yaml"
    path.parent.mkdir()
    path.write_text("config_paths:\n  data_dir: ../data\n  config_dir: /opt/x\n")
    config = load_config(path)
    assert config.data_dir == (tmp_path / "data").resolve()
    assert str(config.config_dir) == "/opt/x"


@pytest.mark.parametrize("text, message", [
    ("common: [unclosed", "invalid YAML"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("config_paths: 3\n", "must be a mapping"),
])
def test_bad_config_names_the_file(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "absent.yaml")
