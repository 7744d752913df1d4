//! A progress line for long offline commands on a terminal: events applied,
//! events/s and, when the end is known, a bar and the time left.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anote_store::event_store::Position;

/// Shows how far a replay got, at most four times a second; silent unless
/// standard error is a terminal.
pub struct Progress {
    terminal: Option<std::io::Stderr>,
    target: u64,
    started: Instant,
    shown: Instant,
}

impl Progress {
    /// A progress line towards the global sequence number `target` (0 when
    /// the end is unknown).
    pub fn new(target: u64) -> Self {
        let stderr = std::io::stderr();
        Self {
            terminal: stderr.is_terminal().then_some(stderr),
            target,
            started: Instant::now(),
            shown: Instant::now(),
        }
    }

    /// Reports that the log is applied up to `at`.
    pub fn show(&mut self, at: Position) {
        let Some(terminal) = &self.terminal else {
            return;
        };
        if self.shown.elapsed().as_millis() < 250 {
            return;
        }
        self.shown = Instant::now();
        let line = progress_line(at.seq(), self.target, self.started.elapsed().as_secs_f64());
        let _ = write!(terminal.lock(), "\r{line}  ");
    }

    /// Ends the line.
    pub fn done(&self) {
        if let Some(terminal) = &self.terminal {
            let _ = writeln!(terminal.lock());
        }
    }
}

/// The text of the line after `seconds`, at global sequence number `done`.
/// Log positions count events (with rare gaps), which is close enough.
fn progress_line(done: u64, target: u64, seconds: f64) -> String {
    let (done_f, target_f) = (done as f64, target as f64);
    let rate = done_f / seconds.max(1e-3);
    if target == 0 {
        return format!("{done} events, {rate:.0} events/s");
    }
    let share = (done_f / target_f).min(1.0);
    let filled = (share * 30.0) as usize;
    let left = (target_f - done_f).max(0.0) / rate.max(1.0);
    format!(
        "[{}{}] {:>3.0}% {done}/{target} events, {rate:.0} events/s, ETA {left:.0} s",
        "#".repeat(filled),
        " ".repeat(30 - filled),
        share * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::progress_line;

    #[test]
    fn the_line_shows_rate_share_and_time_left() {
        assert_eq!(
            progress_line(250, 1_000, 0.5),
            format!(
                "[{}{}]  25% 250/1000 events, 500 events/s, ETA 2 s",
                "#".repeat(7),
                " ".repeat(23)
            )
        );
        assert_eq!(progress_line(10, 0, 2.0), "10 events, 5 events/s");
        assert!(progress_line(1_200, 1_000, 1.0).contains("100% 1200/1000 events"));
    }
}
