"""plugins/module_utils/audit_module.py: what every audit module shares."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import audit_module


def test_missing_dnspython_ends_module_with_missing_required_lib(monkeypatch):
    class FakeModule:
        def fail_json(self, **kwargs):
            raise SystemExit(kwargs)

    monkeypatch.setattr(audit_module, "HAS_DNSPYTHON", False)
    with pytest.raises(SystemExit) as exit_info:
        audit_module.require_libraries(FakeModule())
    assert "dnspython" in exit_info.value.args[0]["msg"]


def test_missing_pyspf_ends_module_with_missing_required_lib(monkeypatch):
    class FakeModule:
        def fail_json(self, **kwargs):
            raise SystemExit(kwargs)

    monkeypatch.setattr(audit_module, "HAS_PYSPF", False)
    audit_module.require_libraries(FakeModule())  # not needed: no failure
    with pytest.raises(SystemExit) as exit_info:
        audit_module.require_libraries(FakeModule(), need_spf=True)
    assert "pyspf" in exit_info.value.args[0]["msg"]
