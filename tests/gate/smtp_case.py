#!/usr/bin/env python3
"""Send one SMTP transaction and print every reply as JSON. Runs inside a sender container.

Standard library only, plus python3-dkim when --sign is used. Each reply is the exact line a client
sees ("450 4.7.25 Service unavailable, ..."), so callers can compare whole lines. "dialogue" holds
the whole conversation as "C: ..." / "S: ..." lines, for transcripts a person reads.
"""

import argparse
import base64
import json
import os
import smtplib
import ssl
import sys
import time
from email.utils import formatdate, make_msgid


def line(code: int, text: bytes) -> str:
    return f"{code} {text.decode('utf-8', 'replace')}".replace("\n", " | ")


def build_message(args) -> bytes:
    sender = args.header_from or args.mail_from or f"postmaster@{args.helo}"
    headers = [f"{h}" for h in args.header] + [
        f"From: <{sender}>",
        f"To: {', '.join(f'<{r}>' for r in args.rcpt)}",
        f"Subject: {args.subject}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: {make_msgid(domain=args.helo)}",
    ]
    message = ("\r\n".join(headers) + "\r\n\r\n" + args.body + "\r\n").encode()
    if args.sign:
        import dkim

        domain, selector, keyfile = args.sign.split(":", 2)
        with open(keyfile, "rb") as handle:
            key = handle.read()
        signature = dkim.sign(
            message,
            selector.encode(),
            domain.encode(),
            key,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        message = signature.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + message
    return message


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--source", default=None, help="local address to send from")
    parser.add_argument("--helo", required=True)
    parser.add_argument("--mail-from", default="", help="envelope sender; empty for the null sender")
    parser.add_argument("--rcpt", action="append", required=True)
    parser.add_argument("--header", action="append", default=[], help="extra header line, added on top")
    parser.add_argument("--header-from", default=None)
    parser.add_argument("--subject", default="v6gate gate lab")
    parser.add_argument("--body", default="Test message from the v6gate gate lab.")
    parser.add_argument("--sign", default=None, help="DOMAIN:SELECTOR:KEYFILE to DKIM-sign with")
    parser.add_argument(
        "--starttls", action="store_true", help="STARTTLS after EHLO (certificate not checked)"
    )
    parser.add_argument(
        "--auth-user",
        default=None,
        help="AUTH PLAIN as this user; the password comes from SMTP_AUTH_PASSWORD",
    )
    args = parser.parse_args()

    result = {"rcpt": [], "dialogue": []}
    dialogue = result["dialogue"]
    client = smtplib.SMTP(timeout=60, source_address=(args.source, 0) if args.source else None)

    def command(text: str) -> str:
        dialogue.append(f"C: {text}")
        reply = line(*client.docmd(text))
        dialogue.append(f"S: {reply}")
        return reply

    started = time.monotonic()
    try:
        result["connect"] = line(*client.connect(args.server, args.port))
        dialogue.append(f"S: {result['connect']}")
        dialogue.append(f"C: EHLO {args.helo}")
        result["ehlo"] = line(*client.ehlo(args.helo)).split(" | ")[0]
        dialogue.append(f"S: {result['ehlo']} ...")
        if args.starttls:
            dialogue.append("C: STARTTLS")
            client._host = args.server  # smtplib sets the TLS server name only when SMTP() itself connects
            result["starttls"] = line(*client.starttls(context=ssl._create_unverified_context()))
            dialogue.append(f"S: {result['starttls']}")
            dialogue.append(f"C: EHLO {args.helo}")
            result["ehlo_tls"] = line(*client.ehlo(args.helo)).split(" | ")[0]
            dialogue.append(f"S: {result['ehlo_tls']} ...")
        if args.auth_user:
            secret = f"\0{args.auth_user}\0{os.environ.get('SMTP_AUTH_PASSWORD', '')}"
            token = base64.b64encode(secret.encode()).decode()
            dialogue.append(f"C: AUTH PLAIN <{args.auth_user}, password>")
            result["auth"] = line(*client.docmd("AUTH", f"PLAIN {token}"))
            dialogue.append(f"S: {result['auth']}")
        result["mail"] = command(f"MAIL FROM:<{args.mail_from}>")
        if result["mail"].startswith("2"):
            for recipient in args.rcpt:
                result["rcpt"].append(command(f"RCPT TO:<{recipient}>"))
        if any(r.startswith("250") for r in result["rcpt"]):
            reply = command("DATA")
            if reply.startswith("354"):
                message = build_message(args)
                client.send(message.replace(b"\r\n.", b"\r\n..") + b".\r\n")
                dialogue.append(f"C: <message, {len(message)} bytes> .")
                reply = line(*client.getreply())
                dialogue.append(f"S: {reply}")
            result["data"] = reply
        command("QUIT")
        client.close()
    except (OSError, smtplib.SMTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["seconds"] = round(time.monotonic() - started, 2)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
