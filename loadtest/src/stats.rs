//! What a load test measured: a latency histogram (HDR) and the statuses of
//! every kind of request, the projection lag, and the same per second.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::profile::Profile;

/// A latency histogram in microseconds, up to two minutes, to 3 digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// A duration in whole microseconds, within the histograms' bounds.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 120_000_000)
}

/// The groups of requests the targets speak of: reads (a client's GETs, not
/// counting reads that wait for their own write, whose time is the
/// projection lag) and writes (every other request to Anote).
pub const GROUPS: [(&str, &[&str]); 2] = [
    (
        "reads",
        &[
            "list notes",
            "open note",
            "search",
            "upcoming assignments",
            "open shared note",
            "fetch after 412",
            // The ceiling's one request stands for a read.
            crate::ceiling::KIND,
        ],
    ),
    (
        "writes",
        &[
            "edit note",
            "edit note (retry)",
            "create note",
            "create assignment",
            "share note",
            "request upload",
            "upload bytes",
            "complete upload",
            "log in",
        ],
    ),
];

/// The exam-week targets a stage is held to: reads' and writes' p99 and the
/// projection lag's p99, in milliseconds, and no errors.
pub const TARGETS_MS: (f64, f64, f64) = (50.0, 100.0, 1_000.0);

/// Whether a status counts as an error. A 412 is the expected answer to an
/// edit that raced with another one (the client fetches and retries).
pub fn is_error(status: Option<u16>) -> bool {
    !matches!(status, Some(200..=399 | 412))
}

/// The statuses and latencies of one kind of request.
struct Kind {
    latency: Histogram<u64>,
    statuses: BTreeMap<String, u64>,
    /// Its place in [`GROUPS`], looked up once.
    group: Option<usize>,
}

/// CPU time used since the processes started, in seconds (or, summed over
/// a stage, in milliseconds per request).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuUsed {
    /// By the services, their sum.
    pub services: f64,
    /// The part of `services` spent hashing and checking passwords.
    pub hashing: f64,
    /// By the load tester.
    pub tester: f64,
}

/// One second of the run.
struct Second {
    target_rate: f64,
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    /// Latency of the reads and of the writes (see [`GROUPS`]).
    groups: [Histogram<u64>; 2],
    resident_mib: Option<f64>,
    /// CPU time used by this second, if sampled.
    cpu: Option<CpuUsed>,
}

impl Second {
    fn new() -> Self {
        Self {
            target_rate: 0.0,
            requests: 0,
            errors: 0,
            latency: histogram(),
            lag: histogram(),
            groups: [histogram(), histogram()],
            resident_mib: None,
            cpu: None,
        }
    }
}

/// Everything measured so far.
pub struct Recorder {
    kinds: BTreeMap<&'static str, Kind>,
    lag: Histogram<u64>,
    seconds: Vec<Second>,
    /// Arrivals not started because the client had too many requests open.
    pub client_dropped: u64,
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `h`.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1_000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The figures of one kind of request over the run.
#[derive(Clone, Debug, Serialize)]
pub struct KindSummary {
    /// What the request does.
    pub name: String,
    /// Requests answered (or failed).
    pub requests: u64,
    /// Of which errors (not 2xx/3xx, not an expected 412).
    pub errors: u64,
    /// Count by status (`transport` for no answer).
    pub statuses: BTreeMap<String, u64>,
    /// Requests per second over the run.
    pub throughput: f64,
    /// Latency from the scheduled start (for the first request of an
    /// arrival) or from its own start (for follow-ups).
    pub latency: Percentiles,
}

/// The figures of one stage of the profile.
#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    /// The stage's name.
    pub name: String,
    /// Arrivals per second it asked for (at its start).
    pub target_rate: f64,
    /// Requests answered per second.
    pub throughput: f64,
    /// Errors (not 2xx/3xx, not an expected 412).
    pub errors: u64,
    /// The reads' latency (see [`GROUPS`]).
    pub reads: Percentiles,
    /// The writes' latency.
    pub writes: Percentiles,
    /// Projection lag of the writes acknowledged in it.
    pub lag: Percentiles,
    /// Whether it held [`TARGETS_MS`] with no errors.
    pub within_targets: bool,
    /// CPU time of the services per request answered, if they tell it.
    pub services_cpu_ms_per_request: Option<f64>,
    /// The part of it spent hashing and checking passwords (logins).
    pub hashing_cpu_ms_per_request: Option<f64>,
    /// CPU time of the load tester per request answered.
    pub tester_cpu_ms_per_request: Option<f64>,
}

/// The figures of one second.
#[derive(Clone, Debug, Serialize)]
pub struct SecondSummary {
    /// Seconds into the run.
    pub second: usize,
    /// Arrivals per second the profile asked for.
    pub target_rate: f64,
    /// Requests answered in this second.
    pub throughput: u64,
    /// Of which errors.
    pub errors: u64,
    /// Their latency.
    pub latency: Percentiles,
    /// Projection lag of the writes acknowledged in this second.
    pub lag: Percentiles,
    /// Resident memory of the services under test (MiB), if they tell it.
    pub server_resident_mib: Option<f64>,
}

impl Recorder {
    /// An empty record.
    pub fn new() -> Self {
        Self {
            kinds: BTreeMap::new(),
            lag: histogram(),
            seconds: Vec::new(),
            client_dropped: 0,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let index = usize::try_from(at.as_secs())
            .unwrap_or(usize::MAX)
            .min(86_400);
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Second::new);
        }
        &mut self.seconds[index]
    }

    /// Notes the rate the profile asks for at `at`.
    pub fn target(&mut self, at: Duration, rate: f64) {
        self.second(at).target_rate = rate;
    }

    /// Records a request of kind `name` answered `at` into the run with
    /// `status` (`None`: no answer) and, for a refusal, its problem `code`
    /// after `latency`.
    pub fn request(
        &mut self,
        name: &'static str,
        at: Duration,
        status: Option<u16>,
        code: Option<&str>,
        latency: Duration,
    ) {
        let us = micros(latency);
        let kind = self.kinds.entry(name).or_insert_with(|| Kind {
            latency: histogram(),
            statuses: BTreeMap::new(),
            group: GROUPS.iter().position(|(_, kinds)| kinds.contains(&name)),
        });
        kind.latency.saturating_record(us);
        let label = match (status, code) {
            (None, _) => "transport".to_owned(),
            (Some(status), None) => status.to_string(),
            (Some(status), Some(code)) => format!("{status} {code}"),
        };
        *kind.statuses.entry(label).or_default() += 1;
        let group = kind.group;
        let second = self.second(at);
        second.requests += 1;
        second.errors += u64::from(is_error(status));
        second.latency.saturating_record(us);
        if let Some(group) = group {
            second.groups[group].saturating_record(us);
        }
    }

    /// Records the CPU time used by `at` into the run.
    pub fn cpu(&mut self, at: Duration, used: CpuUsed) {
        self.second(at).cpu = Some(used);
    }

    /// Figures per stage of `profile`: whether each held the targets, and
    /// the CPU time per request it cost.
    pub fn stages(&self, profile: &Profile) -> Vec<StageSummary> {
        let mut start = 0.0;
        profile
            .stages
            .iter()
            .map(|stage| {
                let (from, to) = (start as usize, (start + stage.seconds) as usize);
                start += stage.seconds;
                let seconds = self
                    .seconds
                    .get(from..to.min(self.seconds.len()))
                    .unwrap_or(&[]);
                self.stage(&stage.name, stage.rate, seconds)
            })
            .collect()
    }

    fn stage(&self, name: &str, rate: f64, seconds: &[Second]) -> StageSummary {
        let (mut reads, mut writes, mut lag) = (histogram(), histogram(), histogram());
        let (mut requests, mut errors) = (0, 0);
        for s in seconds {
            let _ = reads.add(&s.groups[0]);
            let _ = writes.add(&s.groups[1]);
            let _ = lag.add(&s.lag);
            requests += s.requests;
            errors += s.errors;
        }
        // CPU between the stage's first and last samples, over the requests
        // answered in the seconds after the first sample up to the last.
        let sampled: Vec<(usize, CpuUsed)> = seconds
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.cpu.map(|c| (i, c)))
            .collect();
        let cpu_ms = match (sampled.first(), sampled.last()) {
            (Some(&(i, first)), Some(&(j, last))) if j > i => {
                let answered: u64 = seconds[i + 1..=j].iter().map(|s| s.requests).sum();
                let per = |used: f64| used * 1_000.0 / answered.max(1) as f64;
                Some(CpuUsed {
                    services: per(last.services - first.services),
                    hashing: per(last.hashing - first.hashing),
                    tester: per(last.tester - first.tester),
                })
            }
            _ => None,
        };
        let (reads, writes, lag) = (
            Percentiles::of(&reads),
            Percentiles::of(&writes),
            Percentiles::of(&lag),
        );
        let (read_p99, write_p99, lag_p99) = TARGETS_MS;
        StageSummary {
            name: name.to_owned(),
            target_rate: rate,
            throughput: requests as f64 / seconds.len().max(1) as f64,
            errors,
            within_targets: errors == 0
                && reads.p99_ms < read_p99
                && writes.p99_ms < write_p99
                && lag.p99_ms < lag_p99,
            reads,
            writes,
            lag,
            services_cpu_ms_per_request: cpu_ms.map(|c| c.services),
            hashing_cpu_ms_per_request: cpu_ms.map(|c| c.hashing),
            tester_cpu_ms_per_request: cpu_ms.map(|c| c.tester),
        }
    }

    /// Records that a write acknowledged `at` into the run showed in the
    /// query API `lag` later.
    pub fn lag(&mut self, at: Duration, lag: Duration) {
        let us = micros(lag);
        self.lag.saturating_record(us);
        self.second(at).lag.saturating_record(us);
    }

    /// Records the services' resident memory `at` into the run.
    pub fn resident(&mut self, at: Duration, bytes: u64) {
        let mib = bytes as f64 / (1024.0 * 1024.0);
        let second = self.second(at);
        second.resident_mib = Some(second.resident_mib.map_or(mib, |m| m.max(mib)));
    }

    /// The most resident memory the services reported (MiB).
    pub fn resident_max(&self) -> Option<f64> {
        self.seconds
            .iter()
            .filter_map(|s| s.resident_mib)
            .reduce(f64::max)
    }

    /// Requests and errors so far, for the progress line.
    pub fn totals(&self) -> (u64, u64) {
        self.seconds
            .iter()
            .fold((0, 0), |(r, e), s| (r + s.requests, e + s.errors))
    }

    /// The latency percentiles of second `index` (all zero for a second
    /// without requests), if the run got that far.
    pub fn second_latency(&self, index: usize) -> Option<Percentiles> {
        self.seconds.get(index).map(|s| Percentiles::of(&s.latency))
    }

    /// Figures per kind of request over `seconds` of run, then per group
    /// (name and the kinds in it), then over all requests.
    pub fn kinds(&self, seconds: f64, groups: &[(&str, &[&str])]) -> Vec<KindSummary> {
        let mut rows: Vec<KindSummary> = self
            .kinds
            .iter()
            .map(|(name, kind)| summary(name, &kind.latency, &kind.statuses, seconds))
            .collect();
        for (group, members) in groups {
            let row = self.merged(group, seconds, |kind| members.contains(&kind));
            if row.requests > 0 {
                rows.push(row);
            }
        }
        rows.push(self.merged("all", seconds, |_| true));
        rows
    }

    /// The figures of the kinds `within` picks, together.
    fn merged(&self, name: &str, seconds: f64, within: impl Fn(&str) -> bool) -> KindSummary {
        let mut latency = histogram();
        let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
        for (_, kind) in self.kinds.iter().filter(|(name, _)| within(name)) {
            let _ = latency.add(&kind.latency);
            for (s, n) in &kind.statuses {
                *statuses.entry(s.clone()).or_default() += n;
            }
        }
        summary(name, &latency, &statuses, seconds)
    }

    /// The projection lag over the run.
    pub fn lag_summary(&self) -> Percentiles {
        Percentiles::of(&self.lag)
    }

    /// Figures per second.
    pub fn timeline(&self) -> Vec<SecondSummary> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(second, s)| SecondSummary {
                second,
                target_rate: s.target_rate,
                throughput: s.requests,
                errors: s.errors,
                latency: Percentiles::of(&s.latency),
                lag: Percentiles::of(&s.lag),
                server_resident_mib: s.resident_mib,
            })
            .collect()
    }
}

fn summary(
    name: &str,
    latency: &Histogram<u64>,
    statuses: &BTreeMap<String, u64>,
    seconds: f64,
) -> KindSummary {
    let requests: u64 = statuses.values().sum();
    let errors = statuses
        .iter()
        .filter(|(s, _)| is_error(s.parse().ok()))
        .map(|(_, n)| n)
        .sum();
    KindSummary {
        name: name.to_owned(),
        requests,
        errors,
        statuses: statuses.clone(),
        throughput: requests as f64 / seconds.max(1e-3),
        latency: Percentiles::of(latency),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_summed_by_kind_and_second() {
        let mut r = Recorder::new();
        let ms = Duration::from_millis;
        r.request("open", ms(100), Some(200), None, ms(2));
        r.request("open", ms(1_500), Some(503), Some("overloaded"), ms(40));
        r.request("edit", ms(1_600), Some(412), None, ms(5));
        r.request("edit", ms(1_700), None, None, ms(30_000));
        r.lag(ms(1_650), ms(12));
        let kinds = r.kinds(2.0, &[("reads", &["open"])]);
        let open = &kinds[1];
        assert_eq!((kinds[2].name.as_str(), kinds[2].requests), ("reads", 2));
        assert_eq!(
            (open.name.as_str(), open.requests, open.errors),
            ("open", 2, 1)
        );
        let all = kinds.last().expect("a total");
        assert_eq!((all.requests, all.errors, all.throughput), (4, 2, 2.0));
        assert_eq!(all.statuses.get("transport"), Some(&1));
        assert_eq!(all.statuses.get("503 overloaded"), Some(&1));
        let timeline = r.timeline();
        assert_eq!(timeline.len(), 2);
        assert_eq!((timeline[1].throughput, timeline[1].errors), (3, 2));
        assert_eq!(timeline[1].lag.count, 1);
        assert!((r.lag_summary().p99_ms - 12.0).abs() < 0.1);
        assert_eq!(r.totals(), (4, 2));
    }

    #[test]
    fn stages_are_held_to_the_targets_and_charged_their_cpu() {
        let profile = Profile {
            name: "two".into(),
            students: 1,
            read_percent: 90,
            search_percent: None,
            stages: ["calm", "rush"]
                .iter()
                .map(|name| crate::profile::Stage {
                    name: (*name).into(),
                    seconds: 2.0,
                    rate: 10.0,
                    to: None,
                })
                .collect(),
        };
        let mut r = Recorder::new();
        let ms = Duration::from_millis;
        for at in [100, 1_100, 1_200] {
            r.request("open note", ms(at), Some(200), None, ms(5));
        }
        r.request("edit note", ms(1_300), Some(412), None, ms(20));
        r.request("open note", ms(2_100), Some(200), None, ms(80));
        r.request("edit note", ms(3_100), Some(500), None, ms(20));
        // 0.1 s of the services' CPU (0.03 s of it hashing) and 0.02 s of
        // the tester's over the three requests answered after the first
        // sample (seconds 1 to 1).
        let used = |services, hashing, tester| CpuUsed {
            services,
            hashing,
            tester,
        };
        r.cpu(ms(0), used(1.0, 0.2, 0.5));
        r.cpu(ms(1_000), used(1.1, 0.23, 0.52));
        let stages = r.stages(&profile);
        let (calm, rush) = (&stages[0], &stages[1]);
        assert!(calm.within_targets, "{calm:?}");
        assert_eq!((calm.errors, calm.throughput), (0, 2.0));
        assert_eq!(calm.writes.count, 1);
        let cpu = calm.services_cpu_ms_per_request.expect("sampled");
        assert!((cpu - 100.0 / 3.0).abs() < 0.01, "{cpu}");
        let hashing = calm.hashing_cpu_ms_per_request.expect("sampled");
        assert!((hashing - 10.0).abs() < 0.01, "{hashing}");
        assert!(!rush.within_targets, "slow reads and an error: {rush:?}");
        assert_eq!(rush.errors, 1);
        assert_eq!(rush.services_cpu_ms_per_request, None);
    }
}
