"""AWS's own KPL aggregation module (PyPI `aws-kinesis-agg`) run over
records handed in on stdin as JSON, for the interoperability test
(`tests/kpl_interop.rs`); answers on stdout as JSON. Bytes travel as base64.

  deaggregate  in:  [{"partitionKey", "sequenceNumber", "data"}]  records as read from a shard
               out: [{"partitionKey", "explicitHashKey", "sequenceNumber",
                      "subSequenceNumber", "aggregated", "data"}]  the user records
  aggregate    in:  [{"partitionKey", "data"}]  user records
               out: [{"partitionKey", "explicitHashKey", "data"}]  aggregated records
"""

import base64
import json
import sys

from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records


def deaggregate(records):
    # The shape Lambda hands a function, which the module reads.
    shards = [
        {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "approximateArrivalTimestamp": 0,
                "partitionKey": r["partitionKey"],
                "sequenceNumber": r["sequenceNumber"],
                "data": r["data"],
            }
        }
        for r in records
    ]
    users = []
    for user in deaggregate_records(shards):
        k = user["kinesis"]
        data = k["data"]
        users.append(
            {
                "partitionKey": k["partitionKey"],
                "explicitHashKey": k.get("explicitHashKey"),
                "sequenceNumber": k["sequenceNumber"],
                "subSequenceNumber": k.get("subSequenceNumber"),
                "aggregated": k.get("aggregated", False),
                "data": data.decode() if isinstance(data, bytes) else data,
            }
        )
    return users


def aggregate(records):
    aggregator = RecordAggregator()
    out = []

    def emit(record):
        partition_key, explicit_hash_key, data = record.get_contents()
        out.append(
            {
                "partitionKey": partition_key,
                "explicitHashKey": explicit_hash_key,
                "data": base64.b64encode(data).decode(),
            }
        )

    for r in records:
        full = aggregator.add_user_record(r["partitionKey"], base64.b64decode(r["data"]))
        if full is not None:
            emit(full)
    last = aggregator.clear_and_get()
    if last is not None:
        emit(last)
    return out


if __name__ == "__main__":
    command = {"deaggregate": deaggregate, "aggregate": aggregate}[sys.argv[1]]
    json.dump(command(json.load(sys.stdin)), sys.stdout)
