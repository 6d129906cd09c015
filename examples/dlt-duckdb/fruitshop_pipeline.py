"""The fruitshop example with real dlt: loads a few resources into DuckDB.

The destination's credentials come from .dlt/secrets.toml (or the profile's file on the
Runtime), as dlt reads them.
"""

import dlt


@dlt.resource(primary_key="id", write_disposition="merge")
def fruits():
    yield [
        {"id": 1, "name": "apple", "price": 0.5},
        {"id": 2, "name": "banana", "price": 0.25},
        {"id": 3, "name": "cherry", "price": 4.0},
    ]


@dlt.resource(primary_key="order_id", write_disposition="append")
def orders():
    yield [
        {"order_id": 1001, "customer": "ada", "fruit_id": 1, "quantity": 6},
        {"order_id": 1002, "customer": "grace", "fruit_id": 3, "quantity": 1},
    ]


@dlt.source
def fruitshop():
    return fruits, orders


if __name__ == "__main__":
    pipeline = dlt.pipeline(pipeline_name="fruitshop", destination="duckdb", dataset_name="fruitshop")
    print(pipeline.run(fruitshop()))
