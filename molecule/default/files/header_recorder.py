#!/usr/bin/python3
"""Test milter: records the header fields it is shown, one JSON file per message.

Attached in the default scenario as an IPv6 gate milter, it shows which
messages reach the gate milters and exactly which header fields a milter sees
(for example that a forged Authentication-Results never reaches it).
Lab use only.
"""

import json
import os
import re

import Milter

RECORD_DIR = "/var/lib/header-recorder"
SOCKET = "inet:8899@127.0.0.1"


class HeaderRecorder(Milter.Base):
    def __init__(self):
        self.client_address = None
        self.headers = []

    def connect(self, hostname, family, hostaddr):
        self.client_address = hostaddr[0] if hostaddr else None
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        self.headers = []
        return Milter.CONTINUE

    def header(self, name, value):
        self.headers.append([name, value])
        return Milter.CONTINUE

    def eom(self):
        subject = next((value for name, value in self.headers if name.lower() == "subject"), "no-subject")
        file_name = re.sub(r"[^A-Za-z0-9_-]", "_", subject) + ".json"
        record = {"client_address": self.client_address, "headers": self.headers}
        with open(os.path.join(RECORD_DIR, file_name), "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        return Milter.ACCEPT


def main():
    os.makedirs(RECORD_DIR, exist_ok=True)
    Milter.factory = HeaderRecorder
    Milter.runmilter("header-recorder", SOCKET, 240)


if __name__ == "__main__":
    main()
