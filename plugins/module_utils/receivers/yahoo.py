# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Yahoo (and AOL): all senders authenticate with SPF or DKIM and have valid forward and reverse DNS;
bulk senders (Yahoo names no volume) use both SPF and DKIM and publish DMARC, at least p=none, that
passes. Yahoo's error page lists categories only: the unauthenticated text is known from bounces quoted
by others; the policy text is the title of Yahoo's own help article."""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.receivers import SOURCE_THIRD_PARTY, Profile, Rule

ERRORS = "https://senders.yahooinc.com/smtp-error-codes/"
PRACTICES = "https://senders.yahooinc.com/best-practices/"
POLICY_ARTICLE = "https://help.yahoo.com/kb/SLN7253.html"

PROFILE = Profile(
    name="yahoo",
    title="Yahoo",
    sources=(ERRORS, PRACTICES, POLICY_ARTICLE),
    rules=(
        Rule(name="reverse-dns", when=("ptr_not_confirmed",), source=PRACTICES,
             note="Yahoo's best practices ask for valid forward and reverse DNS."),
        Rule(name="authentication", when=("not_authenticated",), source=ERRORS, code=550, status="5.7.9",
             text_source=SOURCE_THIRD_PARTY,
             text=("This mail has been blocked because the sender is unauthenticated. Yahoo requires all "
                   "senders to authenticate with either SPF or DKIM. Authentication results: DKIM = FAILURE - "
                   "SPF {domain} with ip {address} = FAILURE. See "
                   "https://senders.yahooinc.com/smtp-error-codes/#authentication-failures for more information.")),
        Rule(name="dmarc-policy", when=("dmarc_reject",), source=POLICY_ARTICLE, code=554, status="5.7.9",
             text="Message not accepted for policy reasons."),
        Rule(name="bulk-authentication", when=("spf_not_pass", "dkim_not_pass", "dmarc_missing", "not_aligned"),
             source=PRACTICES, bulk_only=True,
             note="Bulk senders need SPF and DKIM, and DMARC (at least p=none) that passes."),
    ),
)
