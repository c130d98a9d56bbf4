# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Public Suffix List option of the modules that judge DMARC (plugins/module_utils/dmarc.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  public_suffix_list:
    description:
      - The Public Suffix List file, in the format publicsuffix.org publishes, for DMARC's organizational
        domains (RFC 7489 section 3.2). Debian's C(publicsuffix) package installs it at the default path.
    type: path
    default: /usr/share/publicsuffix/public_suffix_list.dat
"""
