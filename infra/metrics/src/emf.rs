//! CloudWatch's embedded metric format: every interval, one JSON line on
//! standard output with the figures the alarms watch (lags, requests, server
//! errors, p99 latency). CloudWatch Logs turns such lines into metrics, so
//! a task needs no agent beside it and makes no API call to publish them.

use std::io::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::{Totals, LATENCY_BOUNDS};

/// The gauges reported, by their Prometheus name, with their CloudWatch
/// name and unit.
const GAUGES: [(&str, &str, &str); 3] = [
    ("anote_relay_lag_seconds", "RelayLagSeconds", "Seconds"),
    (
        "anote_projection_lag_seconds",
        "ProjectionLagSeconds",
        "Seconds",
    ),
    ("anote_projector_parked_streams", "ParkedStreams", "Count"),
];

/// Who reports: the dimensions of every metric.
#[derive(Clone, Debug)]
pub struct Reporter {
    /// The CloudWatch namespace, such as `Anote`.
    pub namespace: String,
    /// The environment dimension: `dev`, `staging`, `prod`.
    pub environment: String,
    /// The service dimension: the subcommand, such as `query-api`.
    pub service: &'static str,
}

/// The upper bound (milliseconds) of the bucket holding the 99th percentile
/// of the requests between two cumulative latency counts; the last bound
/// when it lies beyond every bucket.
fn p99_ms(before: &[u64], now: &[u64], requests: u64) -> f64 {
    let wanted = requests - requests / 100;
    let bound = now
        .iter()
        .zip(before)
        .zip(LATENCY_BOUNDS)
        .find(|((now, before), _)| now.saturating_sub(**before) >= wanted)
        .map_or(LATENCY_BOUNDS[LATENCY_BOUNDS.len() - 1], |(_, bound)| bound);
    bound * 1_000.0
}

/// The metric line for the interval from `before` to `now`, stamped
/// `timestamp_ms`.
pub fn line(reporter: &Reporter, before: &Totals, now: &Totals, timestamp_ms: u128) -> String {
    let mut names = Vec::new();
    let mut record = Map::new();
    record.insert("Environment".into(), json!(reporter.environment));
    record.insert("Service".into(), json!(reporter.service));
    let mut put = |name: &str, unit: &str, value: Value| {
        names.push(json!({ "Name": name, "Unit": unit }));
        record.insert(name.to_owned(), value);
    };
    for (gauge, name, unit) in GAUGES {
        if let Some(value) = now.gauges.get(gauge) {
            put(name, unit, json!(value));
        }
    }
    if now.requests > 0 {
        let requests = now.requests.saturating_sub(before.requests);
        put("Requests", "Count", json!(requests));
        put(
            "ServerErrors",
            "Count",
            json!(now.server_errors.saturating_sub(before.server_errors)),
        );
        if requests > 0 {
            let p99 = p99_ms(&before.latency, &now.latency, requests);
            put("RequestLatencyP99Ms", "Milliseconds", json!(p99));
        }
    }
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": u64::try_from(timestamp_ms).unwrap_or(u64::MAX),
            "CloudWatchMetrics": [{
                "Namespace": reporter.namespace,
                "Dimensions": [["Environment", "Service"]],
                "Metrics": names,
            }],
        }),
    );
    Value::Object(record).to_string()
}

/// Prints a metric line every `interval` until `stop` turns true.
pub async fn report(reporter: Reporter, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut before = crate::totals();
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let now = crate::totals();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let text = line(&reporter, &before, &now, stamp);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter() -> Reporter {
        Reporter {
            namespace: "Anote".into(),
            environment: "prod".into(),
            service: "query-api",
        }
    }

    #[test]
    fn a_line_reports_the_intervals_requests_errors_and_p99() {
        let before = Totals {
            requests: 100,
            latency: [50; LATENCY_BOUNDS.len()],
            ..Totals::default()
        };
        let mut now = before.clone();
        now.requests = 300;
        now.server_errors = 3;
        // Of 200 new requests, 197 within 5 ms, all 200 within 50 ms.
        for (i, count) in now.latency.iter_mut().enumerate() {
            *count = match LATENCY_BOUNDS[i] {
                b if b < 0.005 => 50 + 100,
                b if b < 0.05 => 50 + 197,
                _ => 50 + 200,
            };
        }
        now.gauges
            .insert("anote_projection_lag_seconds".into(), 0.25);
        let line: Value =
            serde_json::from_str(&line(&reporter(), &before, &now, 1_700)).expect("JSON");
        assert_eq!(line["Requests"], 200);
        assert_eq!(line["ServerErrors"], 3);
        assert_eq!(line["RequestLatencyP99Ms"], 50.0);
        assert_eq!(line["ProjectionLagSeconds"], 0.25);
        assert_eq!(line["Service"], "query-api");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700);
        assert_eq!(directive["Namespace"], "Anote");
        assert_eq!(directive["Dimensions"], json!([["Environment", "Service"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "ProjectionLagSeconds",
                "Requests",
                "ServerErrors",
                "RequestLatencyP99Ms"
            ]
        );
        for name in names {
            assert!(line.get(name).is_some(), "{name} has a value");
        }
    }

    #[test]
    fn a_process_that_serves_no_requests_reports_only_its_gauges() {
        let mut now = Totals::default();
        now.gauges.insert("anote_relay_lag_seconds".into(), 1.5);
        let line: Value =
            serde_json::from_str(&line(&reporter(), &Totals::default(), &now, 0)).expect("JSON");
        assert_eq!(line["RelayLagSeconds"], 1.5);
        assert!(line.get("Requests").is_none());
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn latency_beyond_every_bucket_reports_the_last_bound() {
        let before = [0; LATENCY_BOUNDS.len()];
        let now = [0; LATENCY_BOUNDS.len()];
        assert_eq!(p99_ms(&before, &now, 10), 5_000.0);
    }
}
