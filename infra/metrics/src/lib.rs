//! Process metrics in the Prometheus text format, served at `/metrics`.
//!
//! A small registry of labelled counters, gauges and one latency histogram
//! per route; every part of the process records into the one global
//! registry, and `render` writes it out; [`emf`] sends the same numbers to
//! CloudWatch as embedded-metric-format log lines.

pub mod emf;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the request-latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A metric's name and labels, such as `anote_http_requests_total{route="/v1/notes"}`.
type Series = (String, Vec<(String, String)>);

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<Series, u64>,
    gauges: BTreeMap<Series, f64>,
    latencies: BTreeMap<Series, Histogram>,
    help: BTreeMap<String, (&'static str, &'static str)>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), labels)
}

fn with_registry(work: impl FnOnce(&mut Registry)) {
    // A poisoned lock only means another thread panicked mid-update; the
    // numbers are still usable.
    let mut registry = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    work(&mut registry);
}

/// Adds `by` to a counter.
pub fn count(name: &str, help: &'static str, labels: &[(&str, &str)], by: u64) {
    with_registry(|r| {
        r.help.entry(name.to_owned()).or_insert((help, "counter"));
        *r.counters.entry(series(name, labels)).or_default() += by;
    });
}

/// Sets a gauge.
pub fn gauge(name: &str, help: &'static str, labels: &[(&str, &str)], value: f64) {
    with_registry(|r| {
        r.help.entry(name.to_owned()).or_insert((help, "gauge"));
        r.gauges.insert(series(name, labels), value);
    });
}

/// Records one request's latency in the histogram of its labels.
pub fn observe(name: &str, help: &'static str, labels: &[(&str, &str)], took: Duration) {
    let seconds = took.as_secs_f64();
    with_registry(|r| {
        r.help.entry(name.to_owned()).or_insert((help, "histogram"));
        let histogram = r.latencies.entry(series(name, labels)).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    });
}

fn label_text(labels: &[(String, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The name of the process's resident memory gauge.
pub const RESIDENT_BYTES: &str = "anote_process_resident_bytes";

/// The resident memory of this process, where the system tells it (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1_024)
}

/// The name of the process's CPU time counter (user and system, seconds).
pub const CPU_SECONDS: &str = "anote_process_cpu_seconds_total";

/// The CPU time this process has used, user and system, in seconds, where
/// the system tells it (Linux: `/proc/self/stat`, in ticks of 1/100 s).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // Fields 14 (utime) and 15 (stime) of proc(5); the first after the name is 3.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The CPU time the calling thread has used, where the system tells it
/// (Linux: `/proc/thread-self/schedstat`, in nanoseconds).
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The histogram of the CPU time each password hash or check took: its sum
/// is what logins cost the process.
pub const HASHING_CPU: &str = "anote_password_hashing_cpu_seconds";

/// Everything recorded so far, in the Prometheus text format, after the
/// process's resident memory and CPU time.
pub fn render() -> String {
    let mut out = String::new();
    if let Some(bytes) = resident_bytes() {
        let _ = writeln!(
            out,
            "# HELP {RESIDENT_BYTES} Resident memory of the process.\n# TYPE {RESIDENT_BYTES} gauge\n{RESIDENT_BYTES} {bytes}"
        );
    }
    if let Some(seconds) = cpu_seconds() {
        let _ = writeln!(
            out,
            "# HELP {CPU_SECONDS} CPU time of the process, user and system.\n# TYPE {CPU_SECONDS} counter\n{CPU_SECONDS} {seconds}"
        );
    }
    with_registry(|r| {
        let mut described = std::collections::BTreeSet::new();
        let mut describe = |out: &mut String, name: &str| {
            if described.insert(name.to_owned()) {
                if let Some((help, kind)) = r.help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                }
            }
        };
        for ((name, labels), value) in &r.counters {
            describe(&mut out, name);
            let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
        }
        for ((name, labels), value) in &r.gauges {
            describe(&mut out, name);
            let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
        }
        for ((name, labels), histogram) in &r.latencies {
            describe(&mut out, name);
            for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {count}",
                    label_text(labels, Some(("le", bound.to_string())))
                );
            }
            let all = label_text(labels, Some(("le", "+Inf".to_owned())));
            let _ = writeln!(out, "{name}_bucket{all} {}", histogram.count);
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                label_text(labels, None),
                histogram.sum
            );
            let _ = writeln!(
                out,
                "{name}_count{} {}",
                label_text(labels, None),
                histogram.count
            );
        }
    });
    out
}

/// The figures a CloudWatch metric line reports, summed over every label
/// set: see [`crate::emf`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// The largest value of each gauge.
    pub gauges: BTreeMap<String, f64>,
    /// HTTP requests answered.
    pub requests: u64,
    /// HTTP requests answered with a 5xx status.
    pub server_errors: u64,
    /// Requests answered within each bound of [`BUCKETS`] (cumulative).
    pub latency: [u64; BUCKETS.len()],
}

/// Upper bounds (seconds) of the latency buckets in [`Totals::latency`].
pub const LATENCY_BOUNDS: [f64; BUCKETS.len()] = BUCKETS;

/// The counter of HTTP requests, labelled by method, route and status.
pub const REQUESTS: &str = "anote_http_requests_total";
/// The histogram of HTTP request latency, labelled by route.
pub const LATENCY: &str = "anote_http_request_duration_seconds";

/// Everything recorded so far, summed over label sets.
pub fn totals() -> Totals {
    let mut totals = Totals::default();
    with_registry(|r| {
        for ((name, _), value) in &r.gauges {
            let gauge = totals.gauges.entry(name.clone()).or_insert(*value);
            *gauge = gauge.max(*value);
        }
        for ((name, labels), value) in &r.counters {
            if name == REQUESTS {
                totals.requests += value;
                if labels
                    .iter()
                    .any(|(k, v)| k == "status" && v.starts_with('5'))
                {
                    totals.server_errors += value;
                }
            }
        }
        for ((name, _), histogram) in &r.latencies {
            if name == LATENCY {
                for (sum, count) in totals.latency.iter_mut().zip(histogram.buckets) {
                    *sum += count;
                }
            }
        }
    });
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        count("test_things_total", "Things.", &[("kind", "a\"b")], 2);
        count("test_things_total", "Things.", &[("kind", "a\"b")], 1);
        gauge("test_lag_events", "Lag.", &[], 42.0);
        observe(
            "test_latency_seconds",
            "Latency.",
            &[("route", "/x")],
            Duration::from_millis(3),
        );
        let text = render();
        #[cfg(target_os = "linux")]
        assert!(text.contains("\nanote_process_resident_bytes "));
        assert!(text.contains("\nanote_process_cpu_seconds_total "));
        assert!(text.contains("# TYPE test_things_total counter"));
        assert!(text.contains("test_things_total{kind=\"a\\\"b\"} 3"));
        assert!(text.contains("test_lag_events 42"));
        assert!(text.contains("test_latency_seconds_bucket{route=\"/x\",le=\"0.0025\"} 0"));
        assert!(text.contains("test_latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 1"));
        assert!(text.contains("test_latency_seconds_count{route=\"/x\"} 1"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_s_cpu_time_grows_with_its_work() {
        let before = thread_cpu_time().expect("the system tells it");
        let mut x = 0_u64;
        while thread_cpu_time().expect("still") < before + Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let idle = thread_cpu_time().expect("still");
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time().expect("still") - idle;
        assert!(
            slept < Duration::from_millis(20),
            "sleeping costs no CPU: {slept:?}"
        );
    }
}
