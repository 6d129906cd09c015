"""Load the fruitshop's bundled data set into SQLite.

Needs only the Python standard library, so it runs anywhere python3 does. It reads its
settings the way dlt does: .dlt/config.toml and .dlt/secrets.toml, overridden by the files
of the active profile (.dlt/<profile>.config.toml, ...), the profile's name being in
.dlt/profile-name.
"""

import csv
import json
import os
import sqlite3
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = HERE / ".dlt"


def active_profile() -> str:
    name = SETTINGS / "profile-name"
    if name.exists():
        return name.read_text().strip() or "dev"
    return os.environ.get("RUNTIME__PROFILE", "dev")


def load_settings(profile: str) -> dict:
    merged: dict = {}
    for file in ("config.toml", "secrets.toml", f"{profile}.config.toml", f"{profile}.secrets.toml"):
        path = SETTINGS / file
        if path.exists():
            with path.open("rb") as f:
                for section, values in tomllib.load(f).items():
                    merged.setdefault(section, {}).update(values)
    return merged.get("fruitshop", {})


def main() -> int:
    profile = active_profile()
    settings = load_settings(profile)
    api_key = settings.get("api_key")
    if not api_key:
        print("fruitshop.api_key is missing from .dlt/secrets.toml", file=sys.stderr)
        return 1
    print(f"profile: {profile}; api key present ({len(api_key)} characters)")

    fruits = json.loads((HERE / "data" / "fruits.json").read_text())
    with (HERE / "data" / "orders.csv").open(newline="") as f:
        orders = list(csv.DictReader(f))

    db_path = HERE / settings.get("database", "fruitshop.db")
    dataset = settings.get("dataset", "fruitshop")
    con = sqlite3.connect(db_path)
    with con:
        con.execute(f"DROP TABLE IF EXISTS {dataset}_fruits")
        con.execute(f"DROP TABLE IF EXISTS {dataset}_orders")
        con.execute(f"CREATE TABLE {dataset}_fruits (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        con.execute(f"CREATE TABLE {dataset}_orders (order_id INTEGER PRIMARY KEY, customer TEXT, fruit_id INTEGER, quantity INTEGER)")
        con.executemany(f"INSERT INTO {dataset}_fruits VALUES (:id, :name, :price)", fruits)
        con.executemany(f"INSERT INTO {dataset}_orders VALUES (:order_id, :customer, :fruit_id, :quantity)", orders)
    print(f"loaded {len(fruits)} rows into {dataset}_fruits")
    print(f"loaded {len(orders)} rows into {dataset}_orders")

    revenue = con.execute(
        f"SELECT ROUND(SUM(o.quantity * f.price), 2) FROM {dataset}_orders o JOIN {dataset}_fruits f ON f.id = o.fruit_id"
    ).fetchone()[0]
    con.close()
    print(f"total revenue: {revenue}")
    print(f"database: {db_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
