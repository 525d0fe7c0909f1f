"""A Python app with dependencies from PyPI, installed into its image at
build time: it runs offline, in the sandbox."""

import sys

import attrs
from dateutil import parser, relativedelta
from tabulate import tabulate


@attrs.define
class Release:
    name: str
    date: str

    def age_from(self, today):
        delta = relativedelta.relativedelta(today, parser.isoparse(self.date))
        return f"{delta.years}y {delta.months}m"


releases = [Release("Python 3.12.0", "2023-10-02"), Release("Python 3.11.0", "2022-10-24")]
today = parser.isoparse(sys.argv[1] if len(sys.argv) > 1 else "2026-01-01")
print(tabulate([(r.name, r.date, r.age_from(today)) for r in releases], headers=["release", "date", "age"]))
