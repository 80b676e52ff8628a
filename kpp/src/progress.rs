//! Progress while records flow: an indicatif bar when stdout and stderr
//! are terminals, otherwise a plain line on stderr every two seconds (logs
//! should not fill with redraws), and nothing for runs shorter than that.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// What the run has done so far.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub delivered: u64,
    pub accepted: u64,
    pub failed: u64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    last: Instant,
}

impl Progress {
    /// `total`: the records to come, when known (`--count`).
    pub fn new(start: Instant, total: Option<u64>) -> Progress {
        let tty = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let template = match total {
                Some(_) => "{elapsed_precise} [{bar:40}] {pos}/{len} delivered, {per_sec}, {msg}",
                None => "{elapsed_precise} {spinner} {pos} delivered, {per_sec}, {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            start,
            last: start,
        }
    }

    pub fn tick(&mut self, c: Counts) {
        if let Some(bar) = &self.bar {
            bar.set_position(c.delivered);
            bar.set_message(format!("{} failed", c.failed));
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < Duration::from_secs(2) {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64();
        let rate = if secs > 0.0 {
            c.delivered as f64 / secs
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "[{secs:6.1}s] delivered {}/{} accepted  {}  failed {}",
            c.delivered,
            c.accepted,
            crate::human_rate(rate),
            c.failed
        );
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
