# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outlook.com (Hotmail, Live, MSN): the requirements for high-volume senders (5,000 or more messages a
day from one From domain, rejected since 2025-05-05): SPF pass, DKIM pass, and DMARC at least p=none
aligned with SPF or DKIM. Microsoft publishes no reply for reverse DNS or IPv6; the stage is not stated
(the From domain is read from the message, so the end of DATA)."""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.receivers import Profile, Rule

NDR = ("https://support.microsoft.com/en-au/topic/"
       "fix-ndr-error-550-5-7-515-in-outlook-com-34cfe8f8-6fbf-457e-9e8b-9e4dbaf4e0ef")
REQUIREMENTS = ("https://techcommunity.microsoft.com/blog/MicrosoftDefenderforOffice365Blog/"
                "strengthening-email-ecosystem-outlook%E2%80%99s-new-requirements-for-high%E2%80%90volume-senders/"
                "4399730")
POLICIES = "https://substrate.office.com/ip-domain-management-snds/Postmaster/Policies"

PROFILE = Profile(
    name="outlook_com",
    title="Outlook.com",
    sources=(NDR, REQUIREMENTS, POLICIES),
    rules=(
        Rule(name="reverse-dns", when=("ptr_not_confirmed",), source=POLICIES,
             note="Outlook.com's policy page requires valid reverse DNS records."),
        Rule(name="high-volume-authentication",
             when=("spf_not_pass", "dkim_not_pass", "dmarc_missing", "not_aligned"),
             source=NDR, bulk_only=True, code=550, status="5.7.515",
             text="Access denied, sending domain {from_domain} does not meet the required authentication level."),
    ),
)
