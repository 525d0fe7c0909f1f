"""Sales report: reads a CSV, sums revenue per region and month with pandas,
and writes a Markdown report.

    python report.py INPUT.csv OUTPUT.md
"""

import os
import sys

import pandas as pd


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} INPUT.csv OUTPUT.md", file=sys.stderr)
        return 2
    source, target = argv[1], argv[2]
    sales = pd.read_csv(source, parse_dates=["date"])
    sales["revenue"] = sales["units"] * sales["unit_price"]
    by_region = (
        sales.groupby("region", as_index=False)["revenue"]
        .sum()
        .sort_values("revenue", ascending=False)
    )
    by_month = sales.groupby(sales["date"].dt.strftime("%Y-%m"))["revenue"].sum()

    lines = [
        f"# Sales report ({os.environ.get('REPORT_TITLE', 'all regions')})",
        "",
        f"{len(sales)} orders, {sales['units'].sum()} units, "
        f"revenue {sales['revenue'].sum():.2f}",
        "",
        "| region | revenue |",
        "|---|---|",
        *(f"| {row.region} | {row.revenue:.2f} |" for row in by_region.itertuples()),
        "",
        "| month | revenue |",
        "|---|---|",
        *(f"| {month} | {revenue:.2f} |" for month, revenue in by_month.items()),
        "",
    ]
    with open(target, "w") as out:
        out.write("\n".join(lines))
    top = by_region.iloc[0]
    print(f"wrote {target}: {len(sales)} orders, top region {top.region} ({top.revenue:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
