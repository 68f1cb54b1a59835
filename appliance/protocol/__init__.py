"""Sans-IO codecs for NUT's wire protocols (driver socket, network protocol)."""
