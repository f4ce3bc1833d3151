//! Progress bars on stderr, hidden when stderr is not a terminal (CI logs, pipes, tests).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar counting `len` items of `unit`, labelled `what`.
pub fn bar(len: u64, what: &'static str, unit: &'static str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target());
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg:>10}} [{{bar:32}}] {{human_pos}}/{{human_len}} {unit} ({{elapsed}}, eta {{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar counting bytes, e.g. of a file being parsed.
pub fn bytes(len: u64, what: &'static str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target());
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:32}] {bytes}/{total_bytes} ({elapsed}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
