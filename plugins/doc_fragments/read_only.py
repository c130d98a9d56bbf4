# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the audit modules, which only read DNS and never change a host (see attributes.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: Only reads DNS, so it runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to diff.
"""
