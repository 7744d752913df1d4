//! Load profiles: how many requests per second to start over time, with
//! which mix of reads and writes, for how many virtual students.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A stretch of the run: the arrival rate goes linearly from `rate` to `to`
/// (or stays at `rate`) over `seconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// What the stage is, for the report ("baseline", "ramp", …).
    pub name: String,
    /// How long it lasts.
    pub seconds: f64,
    /// Requests per second at its start.
    pub rate: f64,
    /// Requests per second at its end (default: `rate`).
    #[serde(default)]
    pub to: Option<f64>,
}

/// A whole load profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Its name, for the report.
    pub name: String,
    /// Virtual students, registered before the run.
    #[serde(default = "default_students")]
    pub students: usize,
    /// Share of reads among the requests, in percent.
    #[serde(default = "default_read_percent")]
    pub read_percent: u8,
    /// Share of searches among the reads, in percent (default: the exam
    /// mix's own, 15).
    #[serde(default)]
    pub search_percent: Option<u8>,
    /// The stages, in order.
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
}

fn default_students() -> usize {
    200
}

fn default_read_percent() -> u8 {
    90
}

impl Profile {
    /// The built-in profile `name` around a baseline of `baseline` requests/s:
    /// `steady` holds it for a minute; `exam-spike` holds it, ramps to ten
    /// times it in 30 s, holds that plateau for a minute and falls back.
    pub fn builtin(name: &str, baseline: f64) -> Option<Self> {
        let stage = |name: &str, seconds: f64, rate: f64, to: Option<f64>| Stage {
            name: name.to_owned(),
            seconds,
            rate,
            to,
        };
        let peak = baseline * 10.0;
        let stages = match name {
            "steady" => vec![stage("steady", 60.0, baseline, None)],
            "exam-spike" => vec![
                stage("baseline", 20.0, baseline, None),
                stage("ramp", 30.0, baseline, Some(peak)),
                stage("plateau", 60.0, peak, None),
                stage("fall", 10.0, peak, Some(baseline)),
                stage("after", 10.0, baseline, None),
            ],
            _ => return None,
        };
        Some(Self {
            name: name.to_owned(),
            students: default_students(),
            read_percent: default_read_percent(),
            search_percent: None,
            stages,
        })
    }

    /// A built-in profile, or one read from a TOML file.
    pub fn load(spec: &str, baseline: f64) -> anyhow::Result<Self> {
        if let Some(profile) = Self::builtin(spec, baseline) {
            profile.check()?;
            return Ok(profile);
        }
        let path = Path::new(spec);
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{spec} is neither steady, exam-spike nor a readable file"))?;
        let profile: Self =
            toml::from_str(&text).with_context(|| format!("reading the profile {spec}"))?;
        profile.check()?;
        Ok(profile)
    }

    /// Refuses profiles that cannot run.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.stages.is_empty(), "a profile needs a stage");
        anyhow::ensure!(self.students > 0, "a profile needs students");
        anyhow::ensure!(self.read_percent <= 100, "read_percent is at most 100");
        anyhow::ensure!(
            self.search_percent.is_none_or(|p| p <= 100),
            "search_percent is at most 100"
        );
        for s in &self.stages {
            let rates = [s.rate, s.to.unwrap_or(s.rate)];
            anyhow::ensure!(
                s.seconds > 0.0 && s.seconds <= 3_600.0,
                "stage {}: 0 < seconds <= 3600",
                s.name
            );
            anyhow::ensure!(
                rates.iter().all(|r| (0.0..=100_000.0).contains(r))
                    && rates.iter().any(|r| *r > 0.0),
                "stage {}: rates between 0 and 100000 requests/s, not both 0",
                s.name
            );
        }
        Ok(())
    }

    /// How long the whole profile runs.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.stages.iter().map(|s| s.seconds).sum())
    }

    /// The stage running `at` into the run and how far into it, if the run
    /// is not over.
    fn locate(&self, at: Duration) -> Option<(&Stage, f64)> {
        let mut start = 0.0;
        let at = at.as_secs_f64();
        self.stages.iter().find_map(|s| {
            let into = at - start;
            start += s.seconds;
            (at < start).then_some((s, into))
        })
    }

    /// The stage running `at` into the run, if the run is not over.
    pub fn stage_at(&self, at: Duration) -> Option<&Stage> {
        self.locate(at).map(|(s, _)| s)
    }

    /// The arrival rate `at` into the run (requests/s), if it is not over.
    pub fn rate_at(&self, at: Duration) -> Option<f64> {
        self.locate(at)
            .map(|(s, into)| s.rate + (s.to.unwrap_or(s.rate) - s.rate) * into / s.seconds)
    }

    /// When each request starts, as offsets from the run's start: the n-th
    /// (from 0) when the arrivals the rate promised so far reach n. The
    /// schedule is fixed in advance (an open model).
    pub fn arrivals(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut n = 0.0_f64;
        let mut stages = self.stages.iter();
        let mut stage = stages.next();
        // Where the current stage starts, and how many arrived before it.
        let (mut start, mut before) = (0.0_f64, 0.0_f64);
        std::iter::from_fn(move || loop {
            let s = stage?;
            let (a, b) = (s.rate, s.to.unwrap_or(s.rate));
            // Arrivals within the stage by time t: a·t + (b − a)·t² / 2T.
            let wanted = n - before;
            let half_slope = (b - a) / (2.0 * s.seconds);
            let t = if half_slope.abs() < 1e-12 {
                (a > 0.0).then(|| wanted / a)
            } else {
                let d = a * a + 4.0 * half_slope * wanted;
                (d >= 0.0).then(|| (-a + d.sqrt()) / (2.0 * half_slope))
            };
            match t {
                Some(t) if t < s.seconds => {
                    n += 1.0;
                    return Some(Duration::from_secs_f64(start + t));
                }
                _ => {
                    before += s.seconds * (a + b) / 2.0;
                    start += s.seconds;
                    stage = stages.next();
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exam_spike_ramps_to_ten_times_the_baseline_in_30_seconds() {
        let p = Profile::builtin("exam-spike", 100.0).expect("built in");
        let rate = |s: f64| p.rate_at(Duration::from_secs_f64(s));
        assert_eq!(rate(5.0), Some(100.0));
        assert_eq!(rate(35.0), Some(550.0));
        assert_eq!(rate(60.0), Some(1_000.0));
        assert_eq!(rate(125.0), Some(100.0));
        assert_eq!(rate(130.0), None);
        assert_eq!(p.duration(), Duration::from_secs(130));
        assert_eq!(
            p.stage_at(Duration::from_secs(70)).map(|s| s.name.as_str()),
            Some("plateau")
        );
    }

    #[test]
    fn arrivals_follow_the_rate_and_stop_at_the_end() {
        let p = Profile::builtin("steady", 50.0).expect("built in");
        let all: Vec<Duration> = p.arrivals().collect();
        assert_eq!(all.len(), 3_000);
        assert_eq!(all[1] - all[0], Duration::from_millis(20));
        let spike = Profile::builtin("exam-spike", 10.0).expect("built in");
        // 20 s at 10/s, then the ramp averages 55/s for 30 s.
        let first_50s = spike.arrivals().take_while(|t| t.as_secs() < 50).count();
        assert!((1_840..=1_860).contains(&first_50s), "{first_50s}");
    }

    #[test]
    fn a_ramp_from_nothing_spreads_its_arrivals() {
        let p = Profile {
            name: "ramp".into(),
            students: 1,
            read_percent: 90,
            search_percent: None,
            stages: vec![Stage {
                name: "up".into(),
                seconds: 10.0,
                rate: 0.0,
                to: Some(100.0),
            }],
        };
        let all: Vec<Duration> = p.arrivals().collect();
        // 500 promised: the n-th at sqrt(n / 5) s.
        assert_eq!(all.len(), 500);
        assert!((all[125].as_secs_f64() - 5.0).abs() < 1e-6);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(Profile::builtin("steady", f64::NAN)
            .expect("built in")
            .check()
            .is_err());
    }

    #[test]
    fn a_profile_file_is_read_and_checked() {
        let text = r#"
            name = "quiz"
            students = 20
            read_percent = 80
            [[stage]]
            name = "warm"
            seconds = 5
            rate = 10
            [[stage]]
            name = "rush"
            seconds = 5
            rate = 10
            to = 40
        "#;
        let p: Profile = toml::from_str(text).expect("parses");
        p.check().expect("valid");
        assert_eq!(
            (p.students, p.read_percent, p.stages[1].to),
            (20, 80, Some(40.0))
        );
        let bad: Profile = toml::from_str(&text.replace(
            "seconds = 5\n            rate = 10\n            to",
            "seconds = 0\n            rate = 10\n            to",
        ))
        .expect("parses");
        assert!(bad.check().is_err());
        assert!(toml::from_str::<Profile>("name = \"x\"\nstage = []\nspeed = 1").is_err());
    }
}
