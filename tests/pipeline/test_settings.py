"""crowdsec_service / prometheus settings: defaults from the core count, errors name the field."""

import psutil
import pytest
import yaml

from crowdsec_mp.config import load_config
from crowdsec_mp.errors import ConfigError
from crowdsec_mp.pipeline.settings import ServiceSettings


def config_with(tmp_path, raw):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_zero_counts_come_from_the_core_count(tmp_path):
    cores = psutil.cpu_count(logical=True)
    settings = ServiceSettings.from_config(config_with(tmp_path, {
        "crowdsec_service": {"parser_workers": 0, "bucket_shards": 0, "state_dir": "st"}}))
    assert settings.parser_workers == cores
    assert settings.bucket_shards == max(1, cores // 2)
    assert settings.state_dir == (tmp_path / "st").resolve()
    assert settings.acquisition_path == (tmp_path / "acquis.yaml").resolve()


def test_explicit_values_and_prometheus(tmp_path):
    settings = ServiceSettings.from_config(config_with(tmp_path, {
        "crowdsec_service": {"parser_workers": 3, "bucket_shards": 5},
        "prometheus": {"enabled": True, "listen_addr": "0.0.0.0", "listen_port": 7070}}))
    assert (settings.parser_workers, settings.bucket_shards) == (3, 5)
    assert (settings.prometheus_enabled, settings.prometheus_addr, settings.prometheus_port) == (True, "0.0.0.0", 7070)


@pytest.mark.parametrize("raw, field", [
    ({"crowdsec_service": {"parser_workers": -1}}, "crowdsec_service.parser_workers"),
    ({"crowdsec_service": {"bucket_shards": "2"}}, "crowdsec_service.bucket_shards"),
    ({"crowdsec_service": {"state_dir": 5}}, "crowdsec_service.state_dir"),
    ({"prometheus": {"listen_port": 99999}}, "prometheus.listen_port"),
    ({"prometheus": {"enabled": "yes"}}, "prometheus.enabled"),
    ({"crowdsec_service": ["not", "a", "map"]}, "crowdsec_service"),
])
def test_bad_values_name_file_and_field(tmp_path, raw, field):
    config = config_with(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        ServiceSettings.from_config(config)
    assert info.value.field == field and str(config.path) in str(info.value)


def test_progress_renders_supervisor_counts(tmp_path):
    from crowdsec_mp.pipeline.progress import ReplayProgress
    from crowdsec_mp.pipeline.runspec import RunSpec
    from crowdsec_mp.pipeline.supervisor import Supervisor

    sup = Supervisor(RunSpec(run_dir=str(tmp_path / "run"), parser_workers=1, bucket_shards=1), [])
    sup.metrics["lines_read"]["a"] = 10
    sup.metrics["lines_parsed"]["a"] = 4
    progress = ReplayProgress("file:///x.log")
    progress(sup)
    task = progress.progress.tasks[0]
    progress.close()
    assert "read 10" in task.fields["detail"] and "parsed 4" in task.fields["detail"]
