"""crowdsec_mp: a CrowdSec-compatible behaviour-detection engine."""

__version__ = "0.1.0"
