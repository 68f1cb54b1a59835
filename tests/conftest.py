"""Suite-wide settings: property tests run the same examples every time and have no per-example deadline, so a
machine loaded by other work (CI builds the SD image beside the suite) cannot fail them by being slow."""

from hypothesis import settings

settings.register_profile("appliance", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("appliance")
