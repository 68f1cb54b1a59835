"""A UPS network appliance that speaks NUT: drivers, upsd, monitor, MQTT."""

__version__ = "0.1.0"

# The NUT release whose wire behaviour and config files we follow.
NUT_COMPAT_VERSION = "2.8.0"
