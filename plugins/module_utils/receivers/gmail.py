# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gmail: its IPv6 sender rule, its DMARC enforcement, and its rules for bulk senders (5,000 or more
messages a day to personal accounts). Texts from Google's SMTP error reference, as published there (in
the wire form Google writes URLs for the link titles and appends " - gsmtp"). Google states no SMTP
stage; public bounce logs show these replies to the end of DATA."""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.receivers import Profile, Rule

ERRORS = "https://support.google.com/a/answer/3726730"  # Gmail SMTP errors and codes
GUIDELINES = "https://support.google.com/mail/answer/81126"  # Email sender guidelines
GUIDE = "To learn more about Gmail requirements for bulk email senders, visit Email sender guidelines."

PROFILE = Profile(
    name="gmail",
    title="Gmail",
    sources=(ERRORS, GUIDELINES),
    notes=("Gmail may first rate-limit (4xx) where it later blocks (5xx); the other published reply of "
           "each rule is listed under 'also'.",),
    rules=(
        # The IPv6 rule: a forward-confirmed PTR, and SPF or DKIM (the guidelines, all senders)
        Rule(name="ipv6-guidelines", when=("ptr_not_confirmed", "not_authenticated"), source=ERRORS,
             code=550, status="5.7.1",
             text=("This message does not meet IPv6 sending guidelines regarding PTR records and "
                   "authentication. For more information, go to Email sender guidelines.")),
        Rule(name="dmarc-policy", when=("dmarc_reject",), source=ERRORS, code=550, status="5.7.26",
             text=("Unauthenticated email from {from_domain} is not accepted due to domain's DMARC policy. "
                   "Contact the administrator of {from_domain} domain if this was legitimate email. To learn "
                   "about the DMARC initiative, go to Control unauthenticated email from your domain.")),
        Rule(name="bulk-spf", when=("spf_not_pass",), source=ERRORS, bulk_only=True, code=550, status="5.7.27",
             text=("This message was blocked because it didn't pass SPF authentication. Gmail requires bulk "
                   "email senders to authenticate their email with SPF. Authentication results: SPF with "
                   "{address} = did not pass. To set up SPF for your sending domains, visit Set up SPF. "
                   + GUIDE),
             also=((421, "4.7.27",
                    "Your email has been rate limited because SPF authentication didn't pass for this message. "
                    "Gmail requires all bulk email senders to authenticate their email with SPF. Authentication "
                    "results: SPF {domain} with IP address: {address} = Did not pass. To set up SPF for your "
                    "sending domains, visit Set up SPF. " + GUIDE),)),
        Rule(name="bulk-dkim", when=("dkim_not_pass",), source=ERRORS, bulk_only=True, code=550, status="5.7.30",
             text=("This message was blocked because it didn't pass DKIM authentication. Gmail requires bulk "
                   "email senders to authenticate their email with DKIM. Authentication results: DKIM = did "
                   "not pass. To set up DKIM for your sending domains, visit Set up DKIM. " + GUIDE),
             also=((421, "4.7.30",
                    "Your email has been rate limited because DKIM authentication didn't pass for this message. "
                    "Gmail requires all email bulk senders to authenticate their email with DKIM. Authentication "
                    "results: DKIM = Did not pass. To set up DKIM for your sending domains, visit Set up DKIM. "
                    + GUIDE),)),
        Rule(name="bulk-dmarc-record", when=("dmarc_missing",), source=ERRORS, bulk_only=True, code=550,
             status="5.7.40",
             text=("Your message was blocked because the sending domain doesn't have a DMARC record or the "
                   "DMARC record doesn't specify a DMARC policy. Gmail requires all bulk email senders to add "
                   "a DMARC record to their sending domain. See Set up DMARC. " + GUIDE),
             also=((421, "4.7.40",
                    "Your email has been rate limited because the sending domain doesn't have a DMARC record, "
                    "or the DMARC record doesn't specify a DMARC policy. Gmail requires all bulk email senders "
                    "to add a DMARC record to their sending domain. See Set up DMARC. " + GUIDE),),
             note="Google's FAQ gives this rule the code 4.7.31; its error reference 4.7.40."),
        # Google publishes the blocking variant only as "421 5.7.32" (a 4xx code with a 5.x.x status).
        Rule(name="bulk-alignment", when=("not_aligned",), source=ERRORS, bulk_only=True, code=421,
             status="4.7.32",
             text=("Your email has been rate limited because the From: header (RFC5322) in this message isn't "
                   "aligned with either the authenticated SPF or DKIM organizational domain. Learn more about "
                   "DMARC alignment. " + GUIDE)),
    ),
)
